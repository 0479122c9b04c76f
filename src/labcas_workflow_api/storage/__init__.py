"""Staging storage port and its S3 adapter."""
