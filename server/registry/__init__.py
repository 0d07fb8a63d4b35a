"""Subjects, enterprises and imports (the register, 底数)."""
