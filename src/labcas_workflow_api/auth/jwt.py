"""LabCAS tokens: verify a bearer token into a Principal, and mint development tokens."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from labcas_workflow_api.auth.secrets import SecretSource
from labcas_workflow_api.cache import Recent
from labcas_workflow_api.domain.errors import ConfigError, Unauthenticated
from labcas_workflow_api.edge import is_username

if TYPE_CHECKING:
    from labcas_workflow_api.settings import Settings

_DN_UID_RE = re.compile(r"uid=([^,=]*)(,[^,=]+=[^,=]+)*", re.IGNORECASE)
_MAX_TOKEN_LENGTH = 8192
_VERIFIED_TOKENS = 10_000


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    username: str


def username_from_claims(claims: dict[str, Any], *, dn_base: str = "") -> str:
    """The username: the `username` claim, else `sub`; an LDAP DN gives its single `uid`."""
    raw = claims.get("username") or claims.get("sub")
    if not isinstance(raw, str) or not raw:
        raise Unauthenticated("token has no username or subject")
    return username_from_subject(raw, dn_base=dn_base)


def username_from_subject(subject: str, *, dn_base: str = "") -> str:
    """`uid=thomas,dc=edrn,...` -> `thomas`; a plain name as is; anything else is refused.
    With ``dn_base``, a DN must end with exactly that base (``dc=edrn,dc=jpl,...``)."""
    if "=" in subject or "," in subject:
        match = _DN_UID_RE.fullmatch(subject)
        if not match or subject.lower().count("uid=") != 1:
            raise Unauthenticated("token subject is not a LabCAS LDAP DN or a user name")
        if dn_base and _dn(subject.partition(",")[2]) != _dn(dn_base):
            raise Unauthenticated("token subject is not under the accepted LDAP base")
        subject = match.group(1)
    if not is_username(subject):
        raise Unauthenticated("token subject is not a valid user name")
    return subject


def _dn(text: str) -> str:
    """A DN for comparison: components without surrounding spaces, in lower case."""
    return ",".join(part.strip().lower().replace(" = ", "=") for part in text.split(","))


class TokenVerifier:
    """Verifies `Authorization` header values; raises Unauthenticated on anything wrong.

    ``max_age`` (seconds, 0 for none) refuses tokens living longer (``exp - iat``); ``dn_base``
    pins the LDAP base of DN subjects. Accepted tokens are kept (10,000, each until its ``exp``)
    with the secret that verified them, and taken again undecoded while it is the current one.
    """

    def __init__(
        self,
        secret: SecretSource,
        *,
        issuer: str = "LabCAS",
        audience: str = "LabCAS",
        algorithms: Iterable[str] = ("HS256",),
        leeway: float = 30,
        max_age: float = 0,
        dn_base: str = "",
    ) -> None:
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._algorithms = [a for a in algorithms if a.lower() != "none"]
        self._leeway = leeway
        self._max_age = max_age
        self._dn_base = dn_base
        self._verified: Recent[str, tuple[Principal, str]] = Recent(
            _VERIFIED_TOKENS, clock=time.time
        )

    @classmethod
    def for_settings(cls, settings: Settings, secret: SecretSource) -> TokenVerifier:
        """The verifier the ``LABCAS_JWT_*`` settings describe (server and authorizer alike)."""
        return cls(
            secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.algorithms,
            max_age=settings.jwt_max_age,
            dn_base=settings.jwt_dn_base,
        )

    def _key(self, *, fresh: bool = False) -> str:
        secret = self._secret.refresh() if fresh else self._secret()
        if not secret:
            raise ConfigError("the JWT secret is empty; tokens cannot be verified")
        return str(secret)

    def verify_known(self, authorization: str | None) -> Principal | None:
        """The caller when this token was accepted under the current secret, known without
        waiting (so the event loop needs no thread); else None."""
        try:
            token = _token_from_header(authorization)
        except Unauthenticated:
            return None
        known = self._verified.get(token)
        if known is None or known[1] != self._secret.known():
            return None
        return known[0]

    def verify(self, authorization: str | None) -> Principal:
        """The caller; Unauthenticated for anything wrong with the header or its token."""
        token = _token_from_header(authorization)
        known = self._verified.get(token)
        if known is not None and known[1] == self._key():
            return known[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        if header.get("alg") not in self._algorithms:
            raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
        key = self._key()
        try:
            claims = self._decode(token, key)
        except jwt.InvalidSignatureError:
            # The secret may just have been rotated: re-read it (rate-limited by its source).
            fresh = self._key(fresh=True)
            if fresh == key:
                raise Unauthenticated("token signature is invalid") from None
            claims, key = self._decode(token, fresh), fresh
        self._check_lifetime(claims)
        who = Principal(username_from_claims(claims, dn_base=self._dn_base))
        self._verified.put(token, (who, key), expires_at=claims["exp"])
        return who

    def _check_lifetime(self, claims: dict[str, Any]) -> None:
        """Time claims are JSON numbers (PyJWT takes ``"123"`` too); ``max_age`` holds."""
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthenticated(f"token {name!r} claim is not a number")
        if self._max_age:
            if "iat" not in claims:
                raise Unauthenticated("token lacks the 'iat' claim")
            if claims["exp"] - claims["iat"] > self._max_age:
                raise Unauthenticated(
                    f"token lifetime is longer than the accepted {self._max_age:g} seconds"
                )

    def _decode(self, token: str, key: str) -> dict[str, Any]:
        """The verified claims; Unauthenticated for anything wrong but the signature
        (``jwt.InvalidSignatureError``, for the caller to decide)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("token issuer is not accepted") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token audience is not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthenticated("malformed token") from None
        return claims


def _token_from_header(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise Unauthenticated("missing bearer token")
    if len(authorization) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("token too long")
    parts = authorization.strip().split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    raise Unauthenticated("malformed Authorization header; expected 'Bearer <token>'")


def mint_token(
    secret: str,
    username: str,
    *,
    ttl: int = 3600,
    issuer: str = "LabCAS",
    audience: str = "LabCAS",
) -> str:
    """A LabCAS-style development token whose subject is the user's LDAP DN."""
    now = int(time.time())
    claims = {
        "sub": f"uid={username},dc=edrn,dc=jpl,dc=nasa,dc=gov",
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
