"""Test and benchmark support that is not part of the package: local stand-ins of AWS services."""
