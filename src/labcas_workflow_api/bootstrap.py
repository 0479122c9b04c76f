"""The one composition root: settings -> engine, storage, access source, verifier, services."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from labcas_workflow_api.access_source import AccessConfigSource
from labcas_workflow_api.auth.jwt import TokenVerifier
from labcas_workflow_api.auth.secrets import SecretSource, jwt_secret_provider
from labcas_workflow_api.domain.errors import ConfigError
from labcas_workflow_api.engines.base import WorkflowEngine
from labcas_workflow_api.service.catalog import Catalog
from labcas_workflow_api.service.outputs import OutputService
from labcas_workflow_api.service.provenance import ProvenanceService
from labcas_workflow_api.service.runs import RunService
from labcas_workflow_api.settings import Settings
from labcas_workflow_api.storage.base import StagingStore


@dataclass
class Container:
    """Everything a request needs, built once per process (or Lambda container)."""

    settings: Settings
    engine: WorkflowEngine
    store: StagingStore
    access: AccessConfigSource
    verifier: TokenVerifier
    catalog: Catalog
    runs: RunService
    outputs: OutputService
    provenance: ProvenanceService


def build_engine(settings: Settings) -> WorkflowEngine:
    """The engine adapter LABCAS_ENGINE names: Airflow, else MWAA (``EngineKind`` has no other)."""
    if settings.engine in ("airflow3", "airflow2"):
        from labcas_workflow_api.engines.airflow import AirflowEngine

        return AirflowEngine(
            settings.engine_url,
            settings.engine_username,
            settings.engine_password,
            timeout=settings.engine_timeout,
            api_version="v2" if settings.engine == "airflow3" else "v1",
        )
    from labcas_workflow_api.engines.mwaa import mwaa_engine, mwaa_web_login_engine

    build = mwaa_engine if settings.engine == "mwaa" else mwaa_web_login_engine
    return build(
        settings.mwaa_env_name,
        region=os.environ.get("AWS_REGION") or None,
        api_version=settings.mwaa_api,
        timeout=settings.engine_timeout,
    )


class _NoSecret:
    """No JWT secret is set: each request fails with that ``ConfigError``, not start-up."""

    def __init__(self, error: ConfigError) -> None:
        self._error = error

    def __call__(self) -> str:
        raise self._error.again()

    refresh = __call__

    def known(self) -> str | None:
        return None


def build_container(
    settings: Settings | None = None,
    *,
    engine: WorkflowEngine | None = None,
    store: StagingStore | None = None,
    ssm_client: Any = None,
    secretsmanager_client: Any = None,
) -> Container:
    """Wire the service from settings; any port may be given instead (tests, Lambda)."""
    settings = settings or Settings()
    engine = engine or build_engine(settings)
    if store is None:
        from labcas_workflow_api.storage.s3 import S3Store

        store = S3Store(endpoint_url=settings.s3_endpoint_url or None)
    access = AccessConfigSource(settings.config, settings.config_ttl, ssm_client=ssm_client)
    secret: SecretSource
    try:
        secret = jwt_secret_provider(settings, secretsmanager_client=secretsmanager_client)
    except ConfigError as exc:
        secret = _NoSecret(exc)
    verifier = TokenVerifier.for_settings(settings, secret)
    catalog = Catalog(engine, access, deployed_ttl=settings.engine_cache_ttl)
    runs = RunService(catalog, settings.staging_bucket, list_ttl=settings.run_list_ttl)
    return Container(
        settings=settings,
        engine=engine,
        store=store,
        access=access,
        verifier=verifier,
        catalog=catalog,
        runs=runs,
        outputs=OutputService(
            store,
            settings.staging_bucket,
            settings.presign_ttl,
            access=access.get,
            listing_ttl=settings.listing_ttl,
        ),
        provenance=ProvenanceService(runs, store, settings.staging_bucket, access=access.get),
    )
