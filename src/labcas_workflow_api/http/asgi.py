"""ASGI entry point of the standalone server, imported by each uvicorn worker: the app and the
HTTP protocol, both from the environment's settings."""

from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.http.server import bounded_protocol
from labcas_workflow_api.logs import configure_logging
from labcas_workflow_api.settings import Settings

configure_logging()
settings = Settings()
app = create_app(settings, allowed_hosts=settings.hosts, access_log=True)
Protocol = bounded_protocol(settings.header_timeout, settings.body_timeout)
