"""A corpus of bad ``Authorization`` values: each must be refused (401, or Deny), never a 500.

Tokens are built by hand (not with PyJWT's encoder) so that they can be wrong in every way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True)
class Bad:
    name: str
    header: str | bytes | None  # None: no Authorization header at all


def b64(data: bytes | str | Any) -> str:
    if not isinstance(data, bytes | str):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov",
        "iss": "LabCAS",
        "aud": "LabCAS",
        "iat": now,
        "exp": now + 3600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()
DROP: Any = _DROP


def hs(secret: str | bytes, payload: Any, alg: str = "HS256", **header: Any) -> str:
    """An HMAC-signed token; ``payload`` may be raw bytes/str for malformed bodies."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = f"{b64({'alg': alg, 'typ': 'JWT', **header})}.{b64(payload)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def raw_claims(extra: str) -> bytes:
    """Claims as raw JSON text (for numbers JSON allows but Python cannot turn into ints)."""
    return ('{"sub":"thomas","iss":"LabCAS","aud":"LabCAS",' + extra + "}").encode()


def corpus(secret: str) -> list[Bad]:
    """Every bad value, named; ``secret`` is the server's real one."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rs_input = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims())}"
    rs_signature = rsa_key.sign(rs_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    rs256 = f"{rs_input}.{b64(rs_signature)}"
    now = int(time.time())
    good = hs(secret, claims())
    head, body, sig = good.split(".")
    nested = '{"sub":"thomas","x":' + "[" * 3000 + "]" * 3000 + "}"

    def bearer(token: str) -> str:
        return f"Bearer {token}"

    entries = [
        Bad("no header", None),
        Bad("empty", ""),
        Bad("blank", "   "),
        Bad("Bearer alone", "Bearer"),
        Bad("Bearer and spaces", "Bearer    "),
        Bad("other scheme", f"Basic {base64.b64encode(b'thomas:secret').decode()}"),
        Bad("token then junk", f"Bearer {good} extra"),
        Bad("two tokens", f"Bearer {good} Bearer {good}"),
        Bad("garbage", "Bearer !!!not-a-token!!!"),
        Bad("garbage with dots", "Bearer abc.def.ghi"),
        Bad("two segments", bearer(f"{head}.{body}")),
        Bad("four segments", bearer(f"{good}.{sig}")),
        Bad("empty segments", "Bearer .."),
        Bad("header is a list", bearer(f"{b64([1, 2])}.{body}.{sig}")),
        Bad("header not JSON", bearer(f"{b64('nope')}.{body}.{sig}")),
        Bad("payload not JSON", bearer(hs(secret, b"\x00\x01not json"))),
        Bad("payload a list", bearer(hs(secret, ["thomas"]))),
        Bad("payload not UTF-8", bearer(hs(secret, b'{"sub":"\xff\xfe"}'))),
        Bad("deeply nested payload", bearer(hs(secret, nested.encode()))),
        Bad("signature stripped", bearer(f"{head}.{body}.")),
        Bad("signature of another token", bearer(f"{head}.{b64(claims(sub='eve'))}.{sig}")),
        Bad("alg none", bearer(f"{b64({'alg': 'none'})}.{body}.")),
        Bad("alg None", bearer(f"{b64({'alg': 'None'})}.{body}.")),
        Bad("alg NONE with signature", bearer(f"{b64({'alg': 'NONE'})}.{body}.{sig}")),
        Bad("alg missing", bearer(f"{b64({'typ': 'JWT'})}.{body}.{sig}")),
        Bad("alg HS512 (not configured)", bearer(hs(secret, claims(), "HS512"))),
        Bad("HS256 with another secret", bearer(hs("not-the-secret-" * 4, claims()))),
        Bad("HS256 with an empty secret", bearer(hs("", claims()))),
        Bad("RS256 (not configured)", bearer(rs256)),
        Bad(
            "RS256/HS256 confusion: HMAC keyed with a public key", bearer(hs(public_pem, claims()))
        ),
        Bad(
            "kid/jku header tricks", bearer(hs("x", claims(), kid="../../dev/null", jku="http://x"))
        ),
        Bad("expired", bearer(hs(secret, claims(exp=now - 3600)))),
        Bad("expired beyond leeway", bearer(hs(secret, claims(exp=now - 31)))),
        Bad("not yet valid", bearer(hs(secret, claims(nbf=now + 3600)))),
        Bad("issued in the future", bearer(hs(secret, claims(iat=now + 3600)))),
        Bad("wrong iss", bearer(hs(secret, claims(iss="Evil")))),
        Bad("iss missing", bearer(hs(secret, claims(iss=DROP)))),
        Bad("wrong aud", bearer(hs(secret, claims(aud="Other")))),
        Bad("aud list without LabCAS", bearer(hs(secret, claims(aud=["Other", "labcas"])))),
        Bad("aud missing", bearer(hs(secret, claims(aud=DROP)))),
        Bad("exp missing", bearer(hs(secret, claims(exp=DROP)))),
        Bad("exp a string", bearer(hs(secret, claims(exp="tomorrow")))),
        Bad("exp null", bearer(hs(secret, claims(exp=None)))),
        Bad("exp infinite", bearer(hs(secret, raw_claims('"exp":1e400')))),
        Bad("exp NaN", bearer(hs(secret, raw_claims('"exp":NaN')))),
        Bad("exp negative infinite", bearer(hs(secret, raw_claims('"exp":-1e400')))),
        Bad("nbf infinite", bearer(hs(secret, raw_claims('"exp":9999999999,"nbf":1e400')))),
        Bad("iat infinite", bearer(hs(secret, raw_claims('"exp":9999999999,"iat":1e400')))),
        Bad("sub missing", bearer(hs(secret, claims(sub=DROP)))),
        Bad("sub empty", bearer(hs(secret, claims(sub="")))),
        Bad("sub a number", bearer(hs(secret, claims(sub=42)))),
        Bad("sub a list", bearer(hs(secret, claims(sub=["thomas"])))),
        Bad("sub with a space", bearer(hs(secret, claims(sub="thomas smith")))),
        Bad("sub with a slash", bearer(hs(secret, claims(sub="../eve")))),
        Bad("sub non-ASCII", bearer(hs(secret, claims(sub="thömas")))),
        Bad(
            "sub fullwidth", bearer(hs(secret, claims(sub="\uff54\uff48\uff4f\uff4d\uff41\uff53")))
        ),
        Bad("sub with NUL", bearer(hs(secret, claims(sub="thomas\x00eve")))),
        Bad("sub with a trailing newline", bearer(hs(secret, claims(sub="thomas\n")))),
        Bad("DN: uid with a trailing newline", bearer(hs(secret, claims(sub="uid=thomas\n")))),
        Bad("username claim with a trailing newline", bearer(hs(secret, claims(username="eve\n")))),
        Bad("sub very long", bearer(hs(secret, claims(sub="a" * 500)))),
        Bad("DN: two uids", bearer(hs(secret, claims(sub="uid=thomas,uid=admin,dc=edrn")))),
        Bad("DN: uid later", bearer(hs(secret, claims(sub="cn=x,uid=admin,dc=edrn")))),
        Bad("DN: empty uid", bearer(hs(secret, claims(sub="uid=,dc=edrn,dc=jpl")))),
        Bad("DN: no uid", bearer(hs(secret, claims(sub="cn=thomas,dc=edrn")))),
        Bad("DN: escaped comma", bearer(hs(secret, claims(sub="uid=thomas\\,uid=admin,dc=edrn")))),
        Bad("DN: multi-valued RDN", bearer(hs(secret, claims(sub="uid=thomas+cn=admin,dc=edrn")))),
        Bad("DN: wildcard", bearer(hs(secret, claims(sub="uid=*,dc=edrn")))),
        Bad("DN: trailing comma", bearer(hs(secret, claims(sub="uid=thomas,")))),
        Bad("DN: spaces", bearer(hs(secret, claims(sub="uid = thomas , dc = edrn")))),
        Bad("username claim DN injection", bearer(hs(secret, claims(username="uid=a,uid=b")))),
        Bad("username claim not a string", bearer(hs(secret, claims(username={"x": 1})))),
        Bad("very long token", bearer("a" * 9000)),
        Bad("very long token, just over the limit", bearer(hs(secret, claims(pad="x" * 6200)))),
        Bad("long expired token", bearer(hs(secret, claims(exp=now - 3600, pad="x" * 5000)))),
        Bad("non-UTF-8 bytes", b"Bearer \xff\xfe\xfd"),
        Bad(
            "non-UTF-8 inside a token",
            b"Bearer " + good.encode()[:20] + b"\xc3\x28" + good.encode()[22:],
        ),
        Bad("latin-1 token", "Bearer tökén".encode("latin-1")),
        Bad("control characters", "Bearer abc\x01def"),
    ]
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    return entries
