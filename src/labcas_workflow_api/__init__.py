"""LabCAS Workflow API: run curated Airflow workflows on LabCAS data selections."""

__version__ = "0.1.0"
