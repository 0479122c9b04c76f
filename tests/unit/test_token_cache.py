"""The verified-token cache: a token accepted once is taken again without a signature check,
on the event loop, only while it has not expired and its secret is still the current one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from labcas_workflow_api.auth.jwt import Principal, TokenVerifier, mint_token
from labcas_workflow_api.auth.secrets import FixedSecret, jwt_secret_provider
from labcas_workflow_api.domain.errors import Unauthenticated
from labcas_workflow_api.settings import Settings
from tests.unit.test_jwt import claims, sign

SECRET = "unit-test-secret-0123456789abcdef-0123456789abcdef"
OTHER = "another-secret-0123456789abcdef-0123456789abcdef-01"


class Rotating:
    """A secret source whose secret the test changes; ``known`` as a setting's (no wait), or
    None as a source that cannot tell without waiting (``waits``)."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.waits = False

    def __call__(self) -> str:
        return self.value

    refresh = __call__

    def known(self) -> str | None:
        return None if self.waits else self.value


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_verified_token_is_known_afterwards() -> None:
    verifier = TokenVerifier(FixedSecret(SECRET))
    token = mint_token(SECRET, "thomas")
    assert verifier.verify_known(bearer(token)) is None
    assert verifier.verify(bearer(token)) == Principal("thomas")
    assert verifier.verify_known(bearer(token)) == Principal("thomas")
    assert verifier.verify_known(token) == Principal("thomas")  # the bare token is the same


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer a b", "x" * 9000])
def test_headers_that_are_not_one_token_are_never_known(header: str | None) -> None:
    assert TokenVerifier(FixedSecret(SECRET)).verify_known(header) is None


def test_a_refused_token_is_not_kept() -> None:
    verifier = TokenVerifier(FixedSecret(SECRET))
    forged = mint_token(OTHER, "thomas")
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(bearer(forged))
    assert verifier.verify_known(bearer(forged)) is None
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(bearer(forged))


def test_a_known_token_is_refused_once_it_expires() -> None:
    verifier = TokenVerifier(FixedSecret(SECRET), leeway=0)
    token = sign(claims(exp=int(time.time()) + 2))
    assert verifier.verify(bearer(token)) == Principal("thomas")
    assert verifier.verify_known(bearer(token)) == Principal("thomas")
    time.sleep(max(0.0, jwt_exp(token) - time.time()) + 0.1)
    assert verifier.verify_known(bearer(token)) is None
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(bearer(token))


def jwt_exp(token: str) -> float:
    import jwt

    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_a_known_token_is_refused_once_its_secret_is_rotated() -> None:
    source = Rotating(SECRET)
    verifier = TokenVerifier(source)
    old = mint_token(SECRET, "thomas")
    assert verifier.verify(bearer(old)) == Principal("thomas")
    source.value = OTHER
    assert verifier.verify_known(bearer(old)) is None
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(bearer(old))
    new = mint_token(OTHER, "thomas")
    assert verifier.verify(bearer(new)) == Principal("thomas")
    source.value = SECRET  # rotated back: the old token verifies again, the new one does not
    assert verifier.verify_known(bearer(new)) is None
    assert verifier.verify(bearer(old)) == Principal("thomas")
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(bearer(new))


def test_no_token_is_known_while_the_secret_cannot_be_had_without_waiting() -> None:
    source = Rotating(SECRET)
    verifier = TokenVerifier(source)
    token = mint_token(SECRET, "thomas")
    verifier.verify(bearer(token))
    source.waits = True
    assert verifier.verify_known(bearer(token)) is None
    assert verifier.verify(bearer(token)) == Principal("thomas")


def test_the_cache_is_bounded() -> None:
    verifier = TokenVerifier(FixedSecret(SECRET))
    first = mint_token(SECRET, "user0")
    verifier.verify(first)
    for i in range(1, 10_001):
        verifier.verify(sign(claims(sub=f"user{i}")))
    assert verifier.verify_known(first) is None


def _age(path: Path, seconds: float) -> None:
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_a_secret_file_is_known_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text(SECRET + "\n")
    _age(path, 60)
    source = jwt_secret_provider(Settings(jwt_secret_file=str(path), _env_file=None))  # type: ignore[call-arg]
    assert source.known() is None  # never read yet
    assert source() == SECRET
    assert source.known() == SECRET
    path.write_text(OTHER + "\n")  # the same size
    _age(path, 30)
    assert source.known() is None
    assert source() == OTHER
    assert source.known() == OTHER
    path.unlink()
    assert source.known() is None


def test_a_secret_file_written_within_the_last_second_is_never_known(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text(SECRET)
    source = jwt_secret_provider(Settings(jwt_secret_file=str(path), _env_file=None))  # type: ignore[call-arg]
    assert source() == SECRET
    assert source.known() is None


def test_a_rotated_secret_file_refuses_a_known_token(tmp_path: Path) -> None:
    path = tmp_path / "jwt-secret"
    path.write_text(SECRET)
    _age(path, 60)
    verifier = TokenVerifier(
        jwt_secret_provider(Settings(jwt_secret_file=str(path), _env_file=None))  # type: ignore[call-arg]
    )
    token = mint_token(SECRET, "thomas")
    assert verifier.verify(token) == Principal("thomas")
    assert verifier.verify_known(token) == Principal("thomas")
    path.write_text(OTHER)
    _age(path, 30)
    assert verifier.verify_known(token) is None
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.verify(token)
