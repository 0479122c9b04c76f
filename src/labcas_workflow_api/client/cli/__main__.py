"""``python -m labcas_workflow_api.client.cli``."""

from labcas_workflow_api.client.cli import app

app()
