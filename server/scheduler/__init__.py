"""Periodic jobs (APScheduler) and how they are started."""
