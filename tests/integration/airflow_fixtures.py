"""Airflow fixtures (owned by the Airflow engine work)."""
