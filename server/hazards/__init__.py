"""Hazards (隐患) and their lifecycle to closure (销号)."""
