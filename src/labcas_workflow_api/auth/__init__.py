"""Authentication (token -> Principal) and authorization (who may do what)."""
