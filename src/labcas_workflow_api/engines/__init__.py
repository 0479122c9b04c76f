"""Workflow engine port and its adapters (Airflow 3, Airflow 2, MWAA)."""
