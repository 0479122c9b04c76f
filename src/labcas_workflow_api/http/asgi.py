"""ASGI entry point for uvicorn workers: the app built from the environment."""

from labcas_workflow_api.http.app import create_app

app = create_app()
