"""Users, roles, districts, tokens and the audit log."""
