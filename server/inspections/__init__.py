"""Inspections, checklists, scores and campaigns."""
