"""The JWT secret rotated (a file, or Secrets Manager on a moto server), and Secrets Manager
unreachable or silent: new tokens are accepted within seconds, old ones refused, and no request
waits long on a slow secret source."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from labcas_workflow_api.auth.jwt import mint_token
from tests.faults.conftest import SECRET_ID
from tests.faults.proxy import FaultProxy
from tests.security.stack import Stack, problem, serve_api, wait_until

pytestmark = pytest.mark.integration

OLD_SECRET = "old-secret-0123456789abcdef-0123456789abcdef-0123456789"
NEW_SECRET = "new-secret-0123456789abcdef-0123456789abcdef-0123456789"


def _status(api: Any, secret: str) -> int:
    token = mint_token(secret, "thomas")
    answer = httpx.get(
        api.url + "/workflows", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    if answer.status_code != 200:
        problem(answer)
    return answer.status_code


def test_jwt_secret_file_rotation(stack: Stack, fault_config: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "jwt-secret"
    secret_file.write_text(OLD_SECRET + "\n")
    settings = stack.settings(str(fault_config), jwt_secret="", jwt_secret_file=str(secret_file))
    with serve_api(stack, settings) as api:
        assert (_status(api, OLD_SECRET), _status(api, NEW_SECRET)) == (200, 401)
        secret_file.write_text(NEW_SECRET + "\n")
        assert (_status(api, OLD_SECRET), _status(api, NEW_SECRET)) == (401, 200)


def test_jwt_secret_rotation_in_secrets_manager(
    stack: Stack, fault_config: Path, aws: dict[str, Any], moto_proxy: FaultProxy
) -> None:
    sm = aws["sm"]
    arn = sm.create_secret(Name=SECRET_ID, SecretString=OLD_SECRET)["ARN"]
    settings = stack.settings(str(fault_config), jwt_secret="", jwt_secret_arn=arn)
    with serve_api(stack, settings, secretsmanager_client=sm) as api:
        assert (_status(api, OLD_SECRET), _status(api, NEW_SECRET)) == (200, 401)
        sm.put_secret_value(SecretId=arn, SecretString=NEW_SECRET)
        began = time.monotonic()
        wait_until(lambda: _status(api, NEW_SECRET) == 200, 30)
        picked_up = time.monotonic() - began
        assert _status(api, OLD_SECRET) == 401
        moto_proxy.down()  # Secrets Manager unreachable: the secret in hand keeps working
        assert _status(api, NEW_SECRET) == 200
        assert _status(api, OLD_SECRET) == 401
        moto_proxy.up()
        moto_proxy.hang = True  # and silent: no request waits on it for long
        began = time.monotonic()
        assert _status(api, NEW_SECRET) == 200
        assert _status(api, OLD_SECRET) == 401
        slowest = time.monotonic() - began
    print(f"\nrotated secret accepted after {picked_up:.1f}s; with SM silent {slowest:.1f}s")
    assert picked_up < 15
    assert slowest < 10
