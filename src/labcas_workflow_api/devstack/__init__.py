"""Local stack for development and tests: Airflow, SeaweedFS S3, moto server, demo data."""
