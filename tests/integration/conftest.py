"""Integration tests run against the real local stack; its fixtures live in tests/conftest.py."""
