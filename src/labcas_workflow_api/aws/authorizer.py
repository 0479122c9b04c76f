"""API Gateway REQUEST authorizer: a LabCAS JWT in, an IAM policy with the caller's username out.

Never raises: a missing, malformed, expired or badly signed token, a user named in no
``authorized_users`` list, or a broken configuration all give a ``Deny`` policy (403 at the
gateway). The JWT secret and the access config are cached across invocations of a container.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Protocol

from labcas_workflow_api.aws.events import event_headers
from labcas_workflow_api.logs import configure_logging

if TYPE_CHECKING:
    from labcas_workflow_api.settings import Settings

log = logging.getLogger(__name__)
configure_logging()

_METHOD_ARN_RE = re.compile(
    r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[A-Za-z0-9._-]+)/[A-Z*]+(/.*)?$"
)
DENIED_PRINCIPAL = "unauthorized"


class _Verifier(Protocol):
    def verify(self, authorization: str | None) -> Any: ...


class _AccessSource(Protocol):
    def get(self) -> Any: ...


def api_resource(method_arn: Any) -> str:
    """Every method of every path of the stage the request was for (``apiId/stage/*/*``), so
    that a cached answer is right for the other routes too; ``*`` when the ARN is not one."""
    match = _METHOD_ARN_RE.match(method_arn) if isinstance(method_arn, str) else None
    return f"{match.group(1)}/*/*" if match else "*"


def policy(principal_id: str, effect: str, resource: str, **context: str) -> dict[str, Any]:
    """An authorizer answer."""
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context:
        answer["context"] = context
    return answer


def authorization_header(event: Any) -> str | None:
    """The ``Authorization`` header whatever the case of its name; None when absent or sent
    more than once."""
    if not isinstance(event, dict):
        return None
    values = [v for k, v in event_headers(event) if k == "authorization"]
    return values[0] if len(values) == 1 else None


class Authorizer:
    """Decides Allow or Deny for one event with a token verifier and the access config."""

    def __init__(self, verifier: _Verifier, access: _AccessSource) -> None:
        self._verifier = verifier
        self._access = access

    def authorize(self, event: Any) -> dict[str, Any]:
        method_arn = event.get("methodArn") if isinstance(event, dict) else None
        resource = api_resource(method_arn)
        try:
            username = str(self._verifier.verify(authorization_header(event)).username)
            if username not in self._access.get().users():
                log.info("deny %s: user is in no authorized_users list", username)
                return policy(username, "Deny", resource)
        except Exception as exc:
            reason = getattr(exc, "detail", None) or type(exc).__name__
            log.info("deny: %s", reason)
            return policy(DENIED_PRINCIPAL, "Deny", resource)
        return policy(username, "Allow", resource, username=username)


def build_authorizer(
    settings: Settings | None = None, *, ssm_client: Any = None, secretsmanager_client: Any = None
) -> Authorizer:
    """The authorizer from settings (default: the environment): ``LABCAS_JWT_*`` for the token,
    ``LABCAS_CONFIG`` (``ssm:/name`` on AWS) for the users."""
    from labcas_workflow_api.access_source import AccessConfigSource
    from labcas_workflow_api.auth.jwt import TokenVerifier
    from labcas_workflow_api.auth.secrets import jwt_secret_provider
    from labcas_workflow_api.settings import Settings

    settings = settings or Settings()
    verifier = TokenVerifier(
        jwt_secret_provider(settings, secretsmanager_client=secretsmanager_client),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        algorithms=settings.algorithms,
    )
    access = AccessConfigSource(settings.config, settings.config_ttl, ssm_client=ssm_client)
    return Authorizer(verifier, access)


_authorizer: Authorizer | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda handler for the REQUEST authorizer; never raises."""
    global _authorizer
    if _authorizer is None:
        try:
            _authorizer = build_authorizer()
        except Exception as exc:
            log.error("deny: the authorizer cannot start: %s", getattr(exc, "detail", exc))
            method_arn = event.get("methodArn") if isinstance(event, dict) else None
            return policy(DENIED_PRINCIPAL, "Deny", api_resource(method_arn))
    return _authorizer.authorize(event)
