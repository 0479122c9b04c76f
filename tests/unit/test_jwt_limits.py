"""Token limits an operator can set: the longest lifetime, the LDAP base of DN subjects; and
time claims that must be numbers."""

from __future__ import annotations

import time

import jwt
import pytest

from labcas_workflow_api.auth.jwt import TokenVerifier
from labcas_workflow_api.auth.secrets import FixedSecret
from labcas_workflow_api.domain.errors import Unauthenticated

SECRET = "unit-test-secret-0123456789abcdef-0123456789abcdef"
BASE = "dc=edrn,dc=jpl,dc=nasa,dc=gov"


def token(**overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": f"uid=thomas,{BASE}",
        "iss": "LabCAS",
        "aud": "LabCAS",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET)


class TestMaxAge:
    verifier = TokenVerifier(FixedSecret(SECRET), max_age=3600)

    def test_a_token_within_the_lifetime_is_accepted(self) -> None:
        now = int(time.time())
        assert self.verifier.verify(token(iat=now, exp=now + 3600)).username == "thomas"

    def test_a_longer_lived_token_is_refused(self) -> None:
        now = int(time.time())
        with pytest.raises(Unauthenticated, match="lifetime is longer than the accepted 3600"):
            self.verifier.verify(token(iat=now, exp=now + 3601))

    def test_iat_is_required(self) -> None:
        with pytest.raises(Unauthenticated, match="lacks the 'iat' claim"):
            self.verifier.verify(token(iat=None))

    def test_no_limit_by_default(self) -> None:
        now = int(time.time())
        year = TokenVerifier(FixedSecret(SECRET)).verify(token(exp=now + 365 * 86400))
        assert year.username == "thomas"


class TestTimeClaimsAreNumbers:
    verifier = TokenVerifier(FixedSecret(SECRET))

    @pytest.mark.parametrize(
        "claim", [{"exp": "99999999999"}, {"iat": "0"}, {"nbf": "0"}, {"exp": True}, {"iat": [1]}]
    )
    def test_a_time_claim_that_is_not_a_number_is_refused(self, claim: dict[str, object]) -> None:
        with pytest.raises(Unauthenticated):
            self.verifier.verify(token(**claim))

    def test_a_string_exp_is_named(self) -> None:
        with pytest.raises(Unauthenticated, match="'exp' claim is not a number"):
            self.verifier.verify(token(exp=str(int(time.time()) + 600)))


class TestDnBase:
    verifier = TokenVerifier(FixedSecret(SECRET), dn_base=BASE)

    @pytest.mark.parametrize(
        "subject",
        [f"uid=thomas,{BASE}", "uid=thomas,DC=EDRN,dc=jpl,dc=nasa,dc=gov", "thomas"],
    )
    def test_subjects_under_the_base_or_plain_names_are_accepted(self, subject: str) -> None:
        assert self.verifier.verify(token(sub=subject)).username == "thomas"

    @pytest.mark.parametrize(
        "subject",
        [
            "uid=thomas,dc=evil,dc=example",
            f"uid=thomas,ou=guests,{BASE}",
            "uid=thomas,dc=jpl,dc=nasa,dc=gov",
            "uid=thomas",
        ],
    )
    def test_other_bases_are_refused(self, subject: str) -> None:
        with pytest.raises(Unauthenticated, match="not under the accepted LDAP base"):
            self.verifier.verify(token(sub=subject))
