"""Plain domain models, access-config models and the error tree."""
