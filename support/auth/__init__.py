"""Users, roles, sessions, municipality scoping and the audit of personal-data access."""
