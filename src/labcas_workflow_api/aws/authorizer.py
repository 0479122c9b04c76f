"""API Gateway REQUEST authorizer: a LabCAS JWT in, an IAM policy with the caller's username out.

API Gateway reads four answers: ``Allow`` with ``context.username`` for a user named in some
``authorized_users``; ``Deny`` (403, cached) for one named in none; ``Exception("Unauthorized")``
(401, not cached) for a missing, malformed, expired or badly signed token, so that clients ask
the user to sign in again; ``AuthorizerUnavailable`` (500, not cached, logged at ERROR) when the
secret or the access config cannot be read: an outage is never a denial. Nothing is read at
import; each event's reads fit in the invocation's remaining time less ``LAMBDA_MARGIN``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from labcas_workflow_api import deadline
from labcas_workflow_api.auth.policy import has_any_access
from labcas_workflow_api.aws.proxy import single_header
from labcas_workflow_api.domain.errors import LabcasError, Unauthenticated
from labcas_workflow_api.logs import configure_logging

if TYPE_CHECKING:
    from labcas_workflow_api.access_source import AccessConfigSource
    from labcas_workflow_api.auth.jwt import TokenVerifier
    from labcas_workflow_api.settings import Settings

log = logging.getLogger(__name__)
configure_logging()

_METHOD_ARN_RE = re.compile(
    r"(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[A-Za-z0-9._-]+)/[A-Z*]+(/.*)?"
)
UNAUTHORIZED = "Unauthorized"


class AuthorizerUnavailable(RuntimeError):
    """The authorizer cannot decide (API Gateway answers 500 and caches nothing)."""


def api_resource(method_arn: Any) -> str:
    """``apiId/stage/*/*``, so that a cached answer holds for every route; else ``*``."""
    match = _METHOD_ARN_RE.fullmatch(method_arn) if isinstance(method_arn, str) else None
    return f"{match.group(1)}/*/*" if match else "*"


def policy(principal_id: str, effect: str, resource: str, **context: str) -> dict[str, Any]:
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


def _unavailable(why: str) -> AuthorizerUnavailable:
    log.error("cannot decide (500, not a Deny): %s", why)
    return AuthorizerUnavailable(why)


class Authorizer:
    """Decides Allow, Deny, Unauthorized or failure for one event."""

    def __init__(self, verifier: TokenVerifier, access: AccessConfigSource) -> None:
        self._verifier = verifier
        self._access = access

    def authorize(self, event: Any) -> dict[str, Any]:
        method_arn = event.get("methodArn") if isinstance(event, dict) else None
        try:
            username = self._verifier.verify(single_header(event, "authorization")).username
            config = self._access.get()
        except Unauthenticated as exc:
            log.info("401: %s", exc.detail)
            raise Exception(UNAUTHORIZED) from None
        except LabcasError as exc:
            raise _unavailable(exc.detail) from None
        resource = api_resource(method_arn)
        if not has_any_access(config, username):
            log.info("deny %s: user is in no authorized_users list", username)
            return policy(username, "Deny", resource)
        return policy(username, "Allow", resource, username=username)


def build_authorizer(
    settings: Settings | None = None, *, ssm_client: Any = None, secretsmanager_client: Any = None
) -> Authorizer:
    """The authorizer from settings (default: the environment); reads nothing yet."""
    from labcas_workflow_api.access_source import AccessConfigSource
    from labcas_workflow_api.auth.jwt import TokenVerifier
    from labcas_workflow_api.auth.secrets import jwt_secret_provider
    from labcas_workflow_api.settings import Settings

    settings = settings or Settings()
    verifier = TokenVerifier.for_settings(
        settings, jwt_secret_provider(settings, secretsmanager_client=secretsmanager_client)
    )
    access = AccessConfigSource(settings.config, settings.config_ttl, ssm_client=ssm_client)
    return Authorizer(verifier, access)


_authorizer: Authorizer | None = None
_startup_error: str = ""


def _start() -> None:
    global _authorizer, _startup_error
    try:
        _authorizer, _startup_error = build_authorizer(), ""
    except Exception as exc:
        _startup_error = str(getattr(exc, "detail", None) or repr(exc))


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda handler: a policy, ``Exception("Unauthorized")`` or ``AuthorizerUnavailable``."""
    if _authorizer is None:
        _start()
    if _authorizer is None:
        raise _unavailable(f"the authorizer cannot start: {_startup_error}")
    with deadline.within(deadline.lambda_budget(context)):
        return _authorizer.authorize(event)


_start()
