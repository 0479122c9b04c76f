"""MWAA adapters of the ``WorkflowEngine`` port: the ``AirflowEngine`` over transports through AWS.

The API version (``v1`` for Airflow 2, ``v2`` for Airflow 3) comes from the environment's
``AirflowVersion`` (``GetEnvironment``), asked on first use, unless ``api_version`` forces it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import httpx

from labcas_workflow_api.deadline import BoundedClients
from labcas_workflow_api.domain.errors import ConfigError
from labcas_workflow_api.engines.airflow import AirflowEngine
from labcas_workflow_api.engines.mwaa.environment import MwaaEnvironment, mwaa_clients
from labcas_workflow_api.engines.mwaa.invoke import MAX_PATH, InvokeRestApiTransport
from labcas_workflow_api.engines.mwaa.web_login import WebLoginTransport

__all__ = ["mwaa_engine", "mwaa_web_login_engine"]


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
    web_login_only: bool = False,
    **engine_options: Any,
) -> AirflowEngine:
    """The ``mwaa`` engine: the Airflow REST API through ``InvokeRestApi`` (IAM-authorised), and
    paths too long for it through the web server with a web-login session, at
    ``<scheme>://<WebServerHostname>`` over ``inner`` (plain HTTP unless given); with
    ``web_login_only``, every call goes that way (``mwaa_web_login_engine``).

    boto3 clients: ``client`` when given, used for every call as it is (a stub); else clients
    whose timeouts and retries fit each request's deadline, built by ``make_client(config)``
    (default: ``boto3.client("mwaa")`` in ``region``)."""
    if not env_name:  # before the client: a missing region is the lesser news
        raise ConfigError("LABCAS_MWAA_ENV_NAME must name the MWAA environment")
    if client is not None:
        clients = BoundedClients.fixed(client, name="MWAA")
    else:
        clients = mwaa_clients(region, timeout=timeout, make=make_client)
    environment = MwaaEnvironment(clients, env_name, api_version=api_version)
    transport: httpx.BaseTransport = WebLoginTransport(environment, scheme=scheme, inner=inner)
    dialect = environment.dialect
    if not web_login_only:
        transport = InvokeRestApiTransport(environment, long_paths=transport)
        dialect = functools.partial(environment.dialect, max_path=MAX_PATH)
    return AirflowEngine(
        f"mwaa://{env_name}",
        "",
        "",
        transport=transport,
        dialect=dialect,
        auth=httpx.Auth(),  # none: the transport authenticates
        timeout=timeout,
        **engine_options,
    )


def mwaa_web_login_engine(env_name: str, **options: Any) -> AirflowEngine:
    """The ``mwaa-web-login`` engine, for roles that may not call ``InvokeRestApi``: every call
    through the web server with a web-login session; options as for ``mwaa_engine``."""
    return mwaa_engine(env_name, web_login_only=True, **options)
