"""MWAA adapters of the ``WorkflowEngine`` port: Airflow's REST API reached through AWS.

``mwaa``: calls go through boto3's ``mwaa.invoke_rest_api`` (IAM-authorised, no Airflow
credentials); the few whose path is longer than ``InvokeRestApi`` takes (task logs, cancel)
go through the web server with a web-login session instead. ``mwaa-web-login``: every call
goes that way (``create_web_login_token``, then the web server's ``/aws_mwaa/login`` for a
session cookie, kept until Airflow stops accepting it, then the REST API over HTTPS with it),
for roles that may not call ``InvokeRestApi``.

Both are the ``AirflowEngine`` over an httpx transport that carries each request its own way
(``invoke.py``, ``web_login.py``), so the Airflow dialects build every request and parse
every answer. The API version (``v1`` for Airflow 2, ``v2`` for Airflow 3) comes from the
environment's ``AirflowVersion`` (``GetEnvironment``, ``environment.py``), asked on first use,
unless ``api_version`` forces it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from labcas_workflow_api.deadline import BoundedClients
from labcas_workflow_api.domain.errors import ConfigError
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.engines.mwaa.environment import MwaaEnvironment, mwaa_clients
from labcas_workflow_api.engines.mwaa.invoke import MAX_PATH, InvokeRestApiTransport
from labcas_workflow_api.engines.mwaa.web_login import WebLoginTransport

__all__ = [
    "MAX_PATH",
    "InvokeRestApiTransport",
    "MwaaEnvironment",
    "WebLoginTransport",
    "mwaa_clients",
    "mwaa_engine",
    "mwaa_web_login_engine",
]


def _environment(
    name: str,
    client: Any,
    make_client: Callable[[Any], Any] | None,
    region: str | None,
    api_version: str,
    timeout: float,
) -> MwaaEnvironment:
    if not name:  # before the client: a missing region is the lesser news
        raise ConfigError("LABCAS_MWAA_ENV_NAME must name the MWAA environment")
    if client is not None:
        clients = BoundedClients.fixed(client, name="MWAA")
    else:
        clients = mwaa_clients(region, timeout=timeout, make=make_client)
    return MwaaEnvironment(clients, name, api_version=api_version)


def mwaa_engine(
    env_name: str,
    *,
    client: Any = None,
    make_client: Callable[[Any], Any] | None = None,
    region: str | None = None,
    api_version: str = "",
    timeout: float = 10.0,
    scheme: str = "https",
    inner: httpx.BaseTransport | None = None,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa`` engine: the Airflow REST API through ``InvokeRestApi``, and paths too long
    for it through the web server (``scheme`` and ``inner`` as for ``mwaa_web_login_engine``).

    boto3 clients: ``client`` when given, used for every call as it is (a stub); else clients
    whose timeouts and retries fit each request's deadline, built by ``make_client(config)``
    (default: ``boto3.client("mwaa")`` in ``region``)."""
    environment = _environment(env_name, client, make_client, region, api_version, timeout)
    web_login = WebLoginTransport(environment, scheme=scheme, inner=inner)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=InvokeRestApiTransport(environment, long_paths=web_login),
        dialect=lambda: environment.dialect(max_path=MAX_PATH),
        auth=httpx.Auth(),  # none: the transport authenticates
        timeout=timeout,
        **engine_options,
    )


def mwaa_web_login_engine(
    env_name: str,
    *,
    client: Any = None,
    make_client: Callable[[Any], Any] | None = None,
    region: str | None = None,
    api_version: str = "",
    timeout: float = 10.0,
    scheme: str = "https",
    inner: httpx.BaseTransport | None = None,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa-web-login`` engine: the web server's REST API with a web-login session, at
    ``<scheme>://<WebServerHostname>`` over ``inner`` (plain HTTP unless given); boto3
    clients as for ``mwaa_engine``."""
    environment = _environment(env_name, client, make_client, region, api_version, timeout)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=WebLoginTransport(environment, scheme=scheme, inner=inner),
        dialect=environment.dialect,
        auth=httpx.Auth(),  # none: the transport authenticates
        timeout=timeout,
        **engine_options,
    )
