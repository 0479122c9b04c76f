"""Clients of the LabCAS Workflow API: a typed Python class (``LabcasClient``) and a CLI."""

from labcas_workflow_api.client.api import ClientError, LabcasClient
from labcas_workflow_api.client.models import DownloadResult, ParameterSpec

__all__ = ["ClientError", "DownloadResult", "LabcasClient", "ParameterSpec"]
