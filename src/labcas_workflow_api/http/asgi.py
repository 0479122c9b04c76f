"""ASGI entry point for uvicorn workers: the app built from the environment."""

from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.logs import configure_logging

configure_logging()
app = create_app()
