"""Clients of the LabCAS Workflow API: a typed Python class (``LabcasClient``) and a CLI."""

from labcas_workflow_api.client.api import ClientError, LabcasClient
from labcas_workflow_api.client.models import (
    DataSelection,
    DownloadResult,
    FileEntry,
    FolderEntry,
    OutputListing,
    ParameterSpec,
    RunInfo,
    RunStarted,
    TaskInfo,
    WorkflowDetail,
    WorkflowSummary,
)

__all__ = [
    "ClientError",
    "DataSelection",
    "DownloadResult",
    "FileEntry",
    "FolderEntry",
    "LabcasClient",
    "OutputListing",
    "ParameterSpec",
    "RunInfo",
    "RunStarted",
    "TaskInfo",
    "WorkflowDetail",
    "WorkflowSummary",
]
