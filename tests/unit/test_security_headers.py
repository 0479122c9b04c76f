"""Security headers of every answer, the web app's config.js and the settings behind them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from labcas_workflow_api.bootstrap import build_container
from labcas_workflow_api.http.app import create_app
from labcas_workflow_api.http.security_headers import app_policy, config_script, storage_origins
from labcas_workflow_api.settings import Settings
from labcas_workflow_api.storage.s3 import S3Store
from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config

Auth = Callable[[str], dict[str, str]]
BUCKET = "labcas-staging"


def policy_of(answer: object) -> dict[str, list[str]]:
    header = answer.headers["content-security-policy"]  # type: ignore[attr-defined]
    return {d.split()[0]: d.split()[1:] for d in header.split("; ")}


def web_settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(
        config=str(write_config(tmp_path)),
        jwt_secret=SECRET,
        stage="dev",
        _env_file=None,  # type: ignore[call-arg]
        **values,  # type: ignore[arg-type]
    )


class TestWebApp:
    @pytest.mark.parametrize("path", ["/ui/", "/ui/app.js", "/dev/ui/api.js", "/ui/app.css"])
    def test_every_file_of_the_app_has_the_strict_policy(
        self, client: TestClient, path: str
    ) -> None:
        answer = client.get(path)
        assert answer.status_code == 200
        policy = policy_of(answer)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"

    def test_the_app_has_no_inline_script_or_style(self, client: TestClient) -> None:
        page = client.get("/ui/").text
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
        assert "<style" not in page and "style=" not in page

    def test_a_missing_file_of_the_app_has_the_policy_too(self, client: TestClient) -> None:
        answer = client.get("/ui/nothing.js")
        assert answer.status_code == 404
        assert policy_of(answer)["script-src"] == ["'self'"]

    def test_connect_src_names_self_the_configured_apis_and_the_storage(
        self, tmp_path: Path
    ) -> None:
        settings = web_settings(
            tmp_path,
            web_api_urls="https://prod.example/labcas/prod/, http://127.0.0.1:9000",
            s3_endpoint_url="http://127.0.0.1:8333",
        )
        client = TestClient(
            create_app(container=build_container(settings, engine=FakeEngine(), store=FakeStore()))
        )
        policy = policy_of(client.get("/ui/"))
        assert policy["connect-src"] == [
            "'self'",
            "https://prod.example",
            "http://127.0.0.1:9000",
            "http://127.0.0.1:8333",
        ]
        assert policy["img-src"] == ["'self'", "http://127.0.0.1:8333"]

    def test_config_js_is_written_from_the_settings(self, tmp_path: Path) -> None:
        settings = web_settings(tmp_path, web_api_urls="https://prod.example/labcas/prod/")
        client = TestClient(
            create_app(container=build_container(settings, engine=FakeEngine(), store=FakeStore()))
        )
        for path in ("/ui/config.js", "/dev/ui/config.js"):
            answer = client.get(path)
            assert answer.headers["content-type"].startswith("text/javascript")
            assert answer.headers["cache-control"] == "no-cache"
            assert "script-src" in answer.headers["content-security-policy"]
            prefix, _, rest = answer.text.partition("Object.freeze(")
            assert prefix == "window.LABCAS_CONFIG = "
            assert json.loads(rest.rstrip().removesuffix(");")) == {
                "apiUrl": "",
                "apiUrls": ["https://prod.example/labcas/prod"],
                "refreshMs": 4000,
            }

    def test_config_js_without_settings_names_only_the_own_origin(self, client: TestClient) -> None:
        assert b'"apiUrl": "", "apiUrls": []' in config_script(
            client.app.state.container.settings  # type: ignore[attr-defined]
        )


class TestOtherAnswers:
    @pytest.mark.parametrize("path", ["/healthz", "/data-selections", "/dev/workflows"])
    def test_json_answers_are_not_sniffed_and_allow_nothing(
        self, client: TestClient, path: str
    ) -> None:
        answer = client.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert policy_of(answer) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}

    def test_preflight_answers_are_not_sniffed(self, client: TestClient) -> None:
        answer = client.options(
            "/workflows",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"},
        )
        assert answer.status_code == 204
        assert answer.headers["x-content-type-options"] == "nosniff"

    def test_the_html_listing_allows_its_own_style_only(
        self, client: TestClient, auth: Auth, store: FakeStore
    ) -> None:
        store.add("thomas/r/a.txt", b"x", bucket=BUCKET)
        answer = client.get("/output-data/r/", headers={**auth("thomas"), "Accept": "text/html"})
        assert answer.headers["content-type"].startswith("text/html")
        styles = re.findall(r"<style>(.*?)</style>", answer.text)
        digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
        assert "<script" not in answer.text and len(styles) == 1
        assert policy_of(answer) == {
            "default-src": ["'none'"],
            "style-src": [f"'sha256-{digest}'"],
            "base-uri": ["'none'"],
            "form-action": ["'none'"],
            "frame-ancestors": ["'none'"],
        }
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


class TestStorageOrigins:
    @pytest.mark.parametrize(
        ("region", "bucket"),
        [
            ("us-west-2", "labcas-staging"),
            ("eu-west-1", "labcas-staging"),
            ("us-east-1", "labcas-staging"),
            ("us-west-2", "labcas.staging.with.dots"),
        ],
    )
    def test_derived_on_aws_as_the_store_makes_download_links(
        self, tmp_path: Path, region: str, bucket: str
    ) -> None:
        settings = web_settings(tmp_path, staging_bucket=bucket)
        base, _ = S3Store(region=region).object_url(bucket, "thomas/a.png")
        assert base in storage_origins(settings, {"AWS_REGION": region})

    def test_the_region_defaults_like_boto3(self, tmp_path: Path) -> None:
        origins = storage_origins(web_settings(tmp_path), {})
        assert "https://labcas-staging.s3.amazonaws.com" in origins

    def test_the_s3_endpoint_gives_its_origin(self, tmp_path: Path) -> None:
        settings = web_settings(tmp_path, s3_endpoint_url="http://127.0.0.1:8333/some/path")
        assert storage_origins(settings, {}) == ["http://127.0.0.1:8333"]

    def test_the_setting_wins(self, tmp_path: Path) -> None:
        settings = web_settings(
            tmp_path,
            s3_endpoint_url="http://127.0.0.1:8333",
            web_storage_origins="https://files.example, https://cdn.example:8443/",
        )
        assert storage_origins(settings, {}) == [
            "https://files.example",
            "https://cdn.example:8443",
        ]
        assert "https://cdn.example:8443" in app_policy(settings, {})


class TestSettings:
    @pytest.mark.parametrize(
        "value",
        [
            "javascript:alert(1)",
            "https://a.example;script-src *",
            "https://a.example 'unsafe-inline'",
            "https://a.example/dev?x=1",
            "https://user@a.example",
            "//a.example",
        ],
    )
    def test_api_urls_must_be_plain_http_urls(self, tmp_path: Path, value: str) -> None:
        with pytest.raises(ValidationError, match="web_api_urls"):
            web_settings(tmp_path, web_api_urls=value)

    def test_storage_origins_have_no_path(self, tmp_path: Path) -> None:
        with pytest.raises(ValidationError, match="web_storage_origins"):
            web_settings(tmp_path, web_storage_origins="https://files.example/bucket")
