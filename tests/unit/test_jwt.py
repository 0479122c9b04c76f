"""Token verification: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import time

import jwt
import pytest

from labcas_workflow_api.auth.jwt import TokenVerifier, mint_token, username_from_subject
from labcas_workflow_api.auth.secrets import FixedSecret
from labcas_workflow_api.domain.errors import Unauthenticated

SECRET = "unit-test-secret-0123456789abcdef-0123456789abcdef"
verifier = TokenVerifier(FixedSecret(SECRET))


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov",
        "iss": "LabCAS",
        "aud": "LabCAS",
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, object], key: str = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


class TestAccepted:
    @pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
    def test_scheme_in_any_case(self, scheme: str) -> None:
        assert verifier.verify(f"{scheme} {sign(claims())}").username == "thomas"

    def test_bare_token(self) -> None:
        assert verifier.verify(sign(claims())).username == "thomas"

    def test_username_claim_wins_over_sub(self) -> None:
        assert verifier.verify(sign(claims(username="dliu"))).username == "dliu"

    def test_plain_name_subject(self) -> None:
        assert verifier.verify(sign(claims(sub="dliu"))).username == "dliu"

    def test_expired_within_leeway(self) -> None:
        assert verifier.verify(sign(claims(exp=int(time.time()) - 10))).username == "thomas"

    def test_minted_token(self) -> None:
        assert verifier.verify(mint_token(SECRET, "thomas")).username == "thomas"


class TestRefused:
    @pytest.mark.parametrize(
        ("header", "reason"),
        [
            (None, "missing"),
            ("", "missing"),
            ("Bearer", "malformed"),
            ("Bearer a b", "malformed"),
            ("garbage", "malformed"),
            ("Basic dXNlcjpwYXNz", "malformed"),
            ("Bearer " + "a" * 9000, "too long"),
        ],
    )
    def test_malformed_headers(self, header: str | None, reason: str) -> None:
        with pytest.raises(Unauthenticated, match=reason):
            verifier.verify(header)

    def test_alg_none(self) -> None:
        token = jwt.encode(claims(), None, algorithm="none")  # type: ignore[arg-type]
        with pytest.raises(Unauthenticated, match="algorithm"):
            verifier.verify(token)

    def test_other_secret(self) -> None:
        with pytest.raises(Unauthenticated, match="signature"):
            verifier.verify(sign(claims(), key="another-secret-0123456789abcdef-0123456789abcdef"))

    def test_hs512_not_configured(self) -> None:
        with pytest.raises(Unauthenticated, match="algorithm"):
            verifier.verify(sign(claims(), alg="HS512"))

    def test_expired(self) -> None:
        with pytest.raises(Unauthenticated, match="expired"):
            verifier.verify(sign(claims(exp=int(time.time()) - 60)))

    def test_not_yet_valid(self) -> None:
        with pytest.raises(Unauthenticated, match="not yet valid"):
            verifier.verify(sign(claims(nbf=int(time.time()) + 600)))

    @pytest.mark.parametrize(("claim", "value"), [("iss", "Other"), ("aud", "Other")])
    def test_wrong_issuer_or_audience(self, claim: str, value: str) -> None:
        with pytest.raises(Unauthenticated, match="not accepted"):
            verifier.verify(sign(claims(**{claim: value})))

    @pytest.mark.parametrize("claim", ["exp", "iss", "aud"])
    def test_missing_required_claim(self, claim: str) -> None:
        with pytest.raises(Unauthenticated):
            verifier.verify(sign(claims(**{claim: None})))


class TestSubjects:
    @pytest.mark.parametrize(
        ("subject", "username"),
        [
            ("uid=thomas,dc=edrn,dc=jpl,dc=nasa,dc=gov", "thomas"),
            ("UID=thomas,dc=edrn", "thomas"),
            ("uid=d.liu", "d.liu"),
            ("thomas", "thomas"),
        ],
    )
    def test_accepted(self, subject: str, username: str) -> None:
        assert username_from_subject(subject) == username

    @pytest.mark.parametrize(
        "subject",
        [
            "uid=thomas,uid=admin,dc=edrn",
            "uid=,dc=edrn",
            "cn=thomas,dc=edrn",
            "dc=edrn,uid=thomas",
            "thomas smith",
            "../admin",
            "a" * 65,
            "uid=thomas,dc=edrn,",
            "thomas\n",
            "uid=thomas\n",
        ],
    )
    def test_refused(self, subject: str) -> None:
        with pytest.raises(Unauthenticated):
            username_from_subject(subject)
