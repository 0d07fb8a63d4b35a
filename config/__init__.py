"""Settings classes and rule data (checklists, credit standard, divisions)."""
