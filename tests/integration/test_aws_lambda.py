"""Both Lambda handlers, chained as API Gateway chains them, on the real local stack.

The handlers are built from the environment exactly as on AWS (``LABCAS_*`` variables, the
access config in an SSM parameter and the JWT secret in Secrets Manager, both served by moto
server), over real Airflow 3 and SeaweedFS S3. Events are the captured API Gateway shapes from
``tests/fixtures/events/``.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import httpx
import pytest

from labcas_workflow_api.auth.jwt import mint_token
from labcas_workflow_api.aws import api, authorizer
from labcas_workflow_api.devstack.process import free_port
from labcas_workflow_api.devstack.stack import seed_demo_images
from tests.integration.api_fixtures import ACCESS_CONFIG
from tests.unit.test_aws_events import body_of, header_of, load_event, proxy_event, set_header

pytestmark = pytest.mark.integration

DEMO = "nebraska_demo"
PARAMETER = "/labcas/workflow/api/config"
ORIGIN = "https://edrn-labcas.jpl.nasa.gov"
HOST = "https://k7xq2v9m1d.execute-api.us-west-2.amazonaws.com"
SECRET = "lambda-integration-secret-" + uuid.uuid4().hex


@dataclass
class Gateway:
    """API Gateway in miniature: the authorizer first, then the API function with its answer."""

    s3: Any
    airflow: Any

    def token(self, user: str, **kwargs: Any) -> str:
        return mint_token(SECRET, user, **kwargs)

    def authorize(self, event: dict[str, Any]) -> dict[str, Any]:
        """The authorizer's answer; raises what the authorizer raises."""
        context = event["requestContext"]
        method_arn = (
            f"arn:aws:execute-api:us-west-2:{context['accountId']}:{context['apiId']}/"
            f"{context['stage']}/{event['httpMethod']}{event['resource']}"
        )
        request = copy.deepcopy(load_event("authorizer_request.json"))
        request.update(
            methodArn=method_arn,
            resource=event["resource"],
            path=event["path"],
            httpMethod=event["httpMethod"],
            headers=event["headers"],
            multiValueHeaders=event["multiValueHeaders"],
        )
        return authorizer.handler(request, None)

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        """The answer the client gets, as API Gateway makes it from the authorizer's: 401 for
        ``Exception("Unauthorized")``, 500 for any other error, 403 for a Deny."""
        event = copy.deepcopy(event)
        try:
            answer = self.authorize(event)
        except Exception as exc:
            status = 401 if type(exc) is Exception and str(exc) == "Unauthorized" else 500
            return {"statusCode": status, "multiValueHeaders": {}, "body": "{}"}
        statement = answer["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            return {"statusCode": 403, "multiValueHeaders": {}, "body": '{"status": 403}'}
        event["requestContext"]["authorizer"] = {
            "principalId": answer["principalId"],
            "integrationLatency": 120,
            **answer["context"],
        }
        return api.handler(event, None)

    def request(self, method: str, path: str, user: str, **kwargs: Any) -> dict[str, Any]:
        return self.call(proxy_event(method, path, username=None, token=self.token(user), **kwargs))


@pytest.fixture(scope="module")
def gateway(airflow3: Any, s3_server: Any, moto_server: Any) -> Iterator[Gateway]:
    seed_demo_images(s3_server)
    region = s3_server.region
    aws = {"region_name": region, "endpoint_url": moto_server.endpoint_url}
    credentials = {"aws_access_key_id": "moto", "aws_secret_access_key": "moto"}
    ssm = boto3.client("ssm", **aws, **credentials)
    ssm.put_parameter(Name=PARAMETER, Value=ACCESS_CONFIG, Type="SecureString", Overwrite=True)
    secrets = boto3.client("secretsmanager", **aws, **credentials)
    name = "labcas/jwt-" + uuid.uuid4().hex[:8]
    secret_arn = secrets.create_secret(Name=name, SecretString=SECRET)["ARN"]
    environment = {
        **s3_server.env(),
        "AWS_ENDPOINT_URL_SSM": moto_server.endpoint_url,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_server.endpoint_url,
        "LABCAS_CONFIG": f"ssm:{PARAMETER}",
        "LABCAS_CONFIG_TTL": "60",
        "LABCAS_JWT_SECRET_ARN": secret_arn,
        "LABCAS_ENGINE": "airflow3",
        "LABCAS_ENGINE_URL": airflow3.url,
        "LABCAS_ENGINE_USERNAME": airflow3.username,
        "LABCAS_ENGINE_PASSWORD": airflow3.password,
        "LABCAS_STAGING_BUCKET": "labcas-staging",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key in ("LABCAS_JWT_SECRET", "LABCAS_JWT_SECRET_FILE", "LABCAS_PUBLIC_URL"):
            patch.delenv(key, raising=False)
        for key, value in environment.items():
            patch.setenv(key, value)
        patch.setattr(api, "_runtime", None)
        patch.setattr(authorizer, "_authorizer", None)
        yield Gateway(s3_server, airflow3)
        if api._runtime is not None:
            api._runtime.close()


class TestAuthorizer:
    def test_allow_carries_the_username(self, gateway: Gateway) -> None:
        event = proxy_event("GET", "/workflows", username=None, token=gateway.token("dliu"))
        answer = gateway.authorize(event)
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        assert answer["context"] == {"username": "dliu"}
        assert answer["policyDocument"]["Statement"][0]["Resource"].endswith("/dev/*/*")

    @pytest.mark.parametrize(
        "token",
        [
            None,
            "garbage",
            mint_token("not-the-secret-0123456789abcdef0123456", "thomas"),
            mint_token(SECRET, "thomas", ttl=-300),
        ],
        ids=["missing", "malformed", "bad-signature", "expired"],
    )
    def test_a_token_problem_is_a_401(self, gateway: Gateway, token: str | None) -> None:
        event = proxy_event("GET", "/workflows", username=None, token=token)
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            gateway.authorize(event)
        assert gateway.call(event)["statusCode"] == 401

    def test_a_user_in_no_list_is_a_403(self, gateway: Gateway) -> None:
        event = proxy_event("GET", "/workflows", username=None, token=gateway.token("mallory"))
        answer = gateway.authorize(event)
        assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
        assert "context" not in answer
        assert gateway.call(event)["statusCode"] == 403

    @pytest.mark.parametrize("service", ["SECRETS_MANAGER", "SSM"])
    def test_an_outage_is_a_500_not_a_deny(
        self, gateway: Gateway, service: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Secrets Manager or SSM unreachable with nothing cached: a fresh container fails."""
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setattr(authorizer, "_authorizer", None)
        event = proxy_event("GET", "/workflows", username=None, token=gateway.token("thomas"))
        with pytest.raises(authorizer.AuthorizerUnavailable):
            gateway.authorize(event)
        assert gateway.call(event)["statusCode"] == 500
        monkeypatch.undo()
        authorizer._authorizer = None
        assert gateway.call(event)["statusCode"] == 200


class TestRoutes:
    def test_an_access_config_outage_is_a_503(
        self, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        event = load_event("api_get_data_selections.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        assert gateway.call(event)["statusCode"] == 200
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setattr(api, "_runtime", None)
        event["requestContext"]["authorizer"] = {"principalId": "thomas", "username": "thomas"}
        result = api.handler(event, None)
        assert result["statusCode"] == 503, result
        assert header_of(result, "content-type") == "application/problem+json"

    def test_a_custom_domain_with_a_base_path(
        self, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("LABCAS_BASE_PATH", "workflows")
        monkeypatch.setattr(api, "_runtime", None)
        assert body_of(api.handler(load_event("api_get_healthz_base_path.json"), None)) == {
            "status": "ok"
        }
        event = proxy_event("GET", "/workflows/workflows", username=None)
        event["requestContext"].update(path="/workflows/workflows", domainName="api.example.org")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        listing = gateway.call(event)
        assert [w["id"] for w in body_of(listing)["workflows"]] == [DEMO]

    def test_hostile_headers(self, gateway: Gateway) -> None:
        event = load_event("api_get_workflows_hostile_headers.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        result = gateway.call(event)
        assert result["statusCode"] == 200, result
        assert [w["id"] for w in body_of(result)["workflows"]] == [DEMO]

    def test_health_without_authorizer(self, gateway: Gateway) -> None:
        healthz = api.handler(load_event("api_get_healthz.json"), None)
        assert healthz["statusCode"] == 200
        readyz = api.handler(proxy_event("GET", "/readyz", username=None), None)
        assert readyz["statusCode"] == 200, readyz

    def test_data_selections(self, gateway: Gateway) -> None:
        event = load_event("api_get_data_selections.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        result = gateway.call(event)
        assert result["statusCode"] == 200
        assert [s["id"] for s in body_of(result)["data_selections"]] == ["nebraska_images"]
        assert header_of(result, "access-control-allow-origin") == ORIGIN
        eve = gateway.request("GET", "/data-selections", "eve")
        assert [s["id"] for s in body_of(eve)["data_selections"]] == ["eve_images"]

    def test_workflows_of_a_data_selection_both_forms(self, gateway: Gateway) -> None:
        query = gateway.request(
            "GET", "/data-selections/workflows", "thomas", query={"data_id": "nebraska_images"}
        )
        path = gateway.request("GET", "/data-selections/nebraska_images/workflows", "thomas")
        assert body_of(query) == body_of(path)
        assert [w["id"] for w in body_of(query)["workflows"]] == [DEMO]
        missing = gateway.request("GET", "/data-selections/workflows", "thomas")
        assert missing["statusCode"] == 400
        unknown = gateway.request(
            "GET", "/data-selections/workflows", "thomas", query={"data_id": "nope"}
        )
        assert unknown["statusCode"] == 404

    def test_workflows_and_one_workflow(self, gateway: Gateway) -> None:
        listing = gateway.request("GET", "/workflows", "thomas")
        assert [w["id"] for w in body_of(listing)["workflows"]] == [DEMO]
        detail = gateway.request("GET", f"/workflows/{DEMO}", "thomas")
        assert body_of(detail)["parameters"]["tile_size"]["schema"]["minimum"] == 8
        assert gateway.request("GET", "/workflows/no_such_dag", "thomas")["statusCode"] == 404

    def test_start_a_run_from_the_captured_text_plain_event_and_list_it(
        self, gateway: Gateway
    ) -> None:
        event = load_event("api_post_run_text_plain.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        set_header(event, "Idempotency-Key", "lambda-" + uuid.uuid4().hex)
        started = gateway.call(event)
        assert started["statusCode"] == 201, started
        run = body_of(started)
        assert run["output_url"].startswith(f"{HOST}/dev/output-data/")
        assert gateway.call(event)["statusCode"] in (200, 201)
        assert body_of(gateway.call(event))["run_id"] == run["run_id"]
        runs = body_of(gateway.request("GET", f"/workflows/{DEMO}/runs", "thomas"))["runs"]
        mine = next(r for r in runs if r["run_id"] == run["run_id"])
        assert mine["conf"]["in_data_selection"] == "nebraska_images"
        assert "username" not in mine["conf"]
        assert mine["output_url"] == run["output_url"]
        others = body_of(gateway.request("GET", f"/workflows/{DEMO}/runs", "dliu"))["runs"]
        assert run["run_id"] not in {r["run_id"] for r in others}

    def test_base64_body(self, gateway: Gateway) -> None:
        event = load_event("api_post_run_base64.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('dliu')}")
        set_header(event, "Idempotency-Key", "lambda-" + uuid.uuid4().hex)
        result = gateway.call(event)
        assert result["statusCode"] == 201, result


@pytest.fixture(scope="module")
def outputs(gateway: Gateway) -> str:
    """A run folder of thomas's with two data files, put straight into the staging bucket."""
    folder = "20250312T170211123456"
    client = gateway.s3.client()
    client.put_object(
        Bucket="labcas-staging", Key=f"thomas/{folder}/image01.csv", Body=b"x,y\n1,2\n"
    )
    client.put_object(
        Bucket="labcas-staging", Key=f"thomas/{folder}/image01_bw.png", Body=b"\x89PNG"
    )
    client.put_object(
        Bucket="labcas-staging",
        Key=f"thomas/{folder}/image01.csv.cfg",
        Body=b"[image01.csv]\nobjects = 1\n",
    )
    return folder


class TestOutputs:
    def test_browse_json_with_stage_links_and_working_presigned_urls(
        self, gateway: Gateway, outputs: str
    ) -> None:
        root = body_of(gateway.request("GET", "/output-data", "thomas"))
        assert root["folders"][f"{outputs}/"]["href"] == f"{HOST}/dev/output-data/{outputs}/"
        folder = body_of(gateway.request("GET", f"/output-data/{outputs}/", "thomas"))
        assert set(folder["files"]) == {"image01.csv", "image01_bw.png"}
        assert folder["files"]["image01.csv"]["properties"] == {"objects": "1"}
        download = httpx.get(folder["files"]["image01.csv"]["href"], timeout=10)
        assert download.status_code == 200 and download.content == b"x,y\n1,2\n"

    def test_browse_html_from_the_captured_event(self, gateway: Gateway, outputs: str) -> None:
        event = load_event("api_get_output_data_html.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        result = gateway.call(event)
        assert result["statusCode"] == 200
        assert (header_of(result, "content-type") or "").startswith("text/html")
        assert "image01_bw.png" in result["body"]

    def test_annotate_from_the_captured_event_and_read_back(
        self, gateway: Gateway, outputs: str
    ) -> None:
        event = load_event("api_put_output_data.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        result = gateway.call(event)
        assert result["statusCode"] == 200, result
        assert body_of(result) == {"updated": ["image01.csv"]}
        folder = body_of(gateway.request("GET", f"/output-data/{outputs}", "thomas"))
        assert folder["files"]["image01.csv"]["properties"] == {
            "reviewed_by": "thomas",
            "quality": "good",
        }

    def test_another_user_sees_only_their_own_area(self, gateway: Gateway, outputs: str) -> None:
        result = gateway.request("GET", f"/output-data/{outputs}/", "dliu")
        assert result["statusCode"] == 404


class TestBadInputs:
    """The bad inputs of the core issue, through both handlers: a clear 4xx problem each."""

    @pytest.mark.parametrize(
        ("user", "body", "status"),
        [
            ("thomas", "{not json", 400),
            ("thomas", '["a list"]', 400),
            ("thomas", '{"tile_size": 64}', 400),
            ("thomas", '{"in_data_selection": "nebraska_images", "in_bucket": "x"}', 400),
            ("thomas", '{"in_data_selection": "nebraska_images", "username": "eve"}', 400),
            ("thomas", '{"in_data_selection": "nebraska_images", "workflow_id": "other"}', 400),
            ("thomas", '{"in_data_selection": "no_such_selection"}', 404),
            ("eve", '{"in_data_selection": "nebraska_images"}', 404),  # eve may not use it
            ("thomas", '{"in_data_selection": "nebraska_images", "tile_size": 2}', 422),
        ],
        ids=[
            "invalid-json", "not-an-object", "no-data-selection", "reserved-in_bucket",
            "reserved-username", "other-workflow-id", "unknown-selection", "selection-not-usable",
            "param-schema",
        ],
    )  # fmt: skip
    def test_start_run(self, gateway: Gateway, user: str, body: str, status: int) -> None:
        result = gateway.request(
            "POST", f"/workflows/{DEMO}/runs", user, body=body, content_type="text/plain"
        )
        assert result["statusCode"] == status, result
        assert header_of(result, "content-type") == "application/problem+json"
        assert body_of(result)["status"] == status

    def test_unknown_workflow(self, gateway: Gateway) -> None:
        body = '{"in_data_selection": "nebraska_images"}'
        result = gateway.request("POST", "/workflows/no_such_dag/runs", "thomas", body=body)
        assert result["statusCode"] == 404

    def test_paused_workflow(self, gateway: Gateway) -> None:
        airflow = gateway.airflow
        token = httpx.post(
            f"{airflow.url}/auth/token",
            json={"username": airflow.username, "password": airflow.password},
            timeout=30,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def pause(paused: bool) -> None:
            httpx.patch(
                f"{airflow.url}/api/v2/dags/{DEMO}",
                json={"is_paused": paused},
                headers=headers,
                timeout=30,
            ).raise_for_status()

        pause(True)
        try:
            time.sleep(0.5)
            result = gateway.request(
                "POST",
                f"/workflows/{DEMO}/runs",
                "thomas",
                body='{"in_data_selection": "nebraska_images"}',
            )
            assert result["statusCode"] == 409, result
        finally:
            pause(False)

    @pytest.mark.parametrize(
        "path",
        [
            "/output-data/../dliu",
            "/output-data/a/%2e%2e/%2e%2e/dliu",
            "/output-data/%2fetc",
            "/output-data/a\\b",
        ],
        ids=["dotdot", "encoded-dotdot", "encoded-absolute", "backslash"],
    )
    def test_hostile_output_paths(self, gateway: Gateway, path: str) -> None:
        result = gateway.request("GET", path, "thomas")
        assert result["statusCode"] == 400, result

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ('{"files": {"missing.csv": {"properties": {"a": "b"}}}}', 404),
            ('{"files": {"image01.csv": {"properties": {"not an id": "b"}}}}', 400),
            ('{"files": {"image01.csv": {"properties": {"a": "two\\nlines"}}}}', 400),
            ("{not json", 400),
        ],
        ids=["missing-file", "bad-key", "multi-line-value", "invalid-json"],
    )
    def test_annotate(self, gateway: Gateway, outputs: str, body: str, status: int) -> None:
        result = gateway.request(
            "PUT", f"/output-data/{outputs}", "thomas", body=body, content_type="text/plain"
        )
        assert result["statusCode"] == status, result
        assert header_of(result, "content-type") == "application/problem+json"


class TestRunLife:
    """Run detail, task log and cancel through both handlers, from captured events."""

    @pytest.fixture(scope="class")
    @classmethod
    def finished_run(cls, gateway: Gateway) -> str:
        event = load_event("api_post_run_text_plain.json")
        set_header(event, "Authorization", f"Bearer {gateway.token('thomas')}")
        set_header(event, "Idempotency-Key", "lambda-life-" + uuid.uuid4().hex)
        run_id = str(body_of(gateway.call(event))["run_id"])
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            detail = body_of(gateway.request("GET", f"/workflows/{DEMO}/runs/{run_id}", "thomas"))
            if detail["status"] in ("success", "failed"):
                return run_id
            time.sleep(2)
        raise AssertionError(f"run {run_id} did not finish")

    @staticmethod
    def event(gateway: Gateway, name: str, run_id: str, user: str) -> dict[str, Any]:
        """A captured event, aimed at ``run_id`` with ``user``'s token."""
        event = load_event(name)
        old = event["pathParameters"]["run_id"]
        event["path"] = event["path"].replace(old, run_id)
        event["requestContext"]["path"] = event["requestContext"]["path"].replace(old, run_id)
        event["pathParameters"]["run_id"] = run_id
        set_header(event, "Authorization", f"Bearer {gateway.token(user)}")
        return event

    def test_detail_log_and_cancel(self, gateway: Gateway, finished_run: str) -> None:
        detail = gateway.call(self.event(gateway, "api_get_run.json", finished_run, "thomas"))
        assert detail["statusCode"] == 200, detail
        body = body_of(detail)
        assert body["progress"]["done"] == body["progress"]["total"] > 0
        assert "/dev/output-data/" in body["output_url"]
        log = gateway.call(self.event(gateway, "api_get_task_log.json", finished_run, "thomas"))
        assert log["statusCode"] == 200, log
        assert header_of(log, "content-type").startswith("text/plain")
        cancel = gateway.call(self.event(gateway, "api_post_cancel.json", finished_run, "thomas"))
        assert cancel["statusCode"] == 409, cancel
        for name in ("api_get_run.json", "api_get_task_log.json", "api_post_cancel.json"):
            outsider = gateway.call(self.event(gateway, name, finished_run, "dliu"))
            assert outsider["statusCode"] == 404, (name, outsider)

    def test_a_log_over_6_mb_comes_in_pages_through_the_handler(
        self, gateway: Gateway, finished_run: str
    ) -> None:
        """The captured task-log event (one map index) against a real Airflow 3 task log grown
        past Lambda's 6 MB answer: each answer fits, and the next links give the rest."""
        from labcas_workflow_api.engines.airflow import AirflowEngine

        airflow = gateway.airflow
        (path,) = (airflow.home / "logs").glob(
            f"dag_id={DEMO}/run_id={finished_run}/task_id=segment/map_index=0/attempt=1.log"
        )
        with path.open("a") as log:
            for n in range(50_000):
                record = {
                    "timestamp": f"2099-01-01T00:{n // 60_000_000:02d}:00.{n:06d}Z",
                    "level": "info",
                    "event": f"padding line {n:06d} " + "x" * 80,
                    "logger": "labcas.test",
                }
                log.write(json.dumps(record) + "\n")
        with AirflowEngine(airflow.url, airflow.username, airflow.password) as engine:
            whole = b"".join(engine.task_log(DEMO, finished_run, "segment", 1, map_index=0))
        assert len(whole) > 6_291_556
        event = self.event(gateway, "api_get_task_log.json", finished_run, "thomas")
        query: dict[str, str] = {"try": "1", "map_index": "0"}
        text, sizes = b"", []
        while True:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
            result = gateway.call(event)
            assert result["statusCode"] == 200, result
            sizes.append(len(json.dumps(result)))
            assert sizes[-1] < 6_291_556
            body = result["body"].encode()
            link = header_of(result, "link")
            if link is None:
                text += body
                break
            text += body[: body.rindex(b"[LabCAS: the log was cut")]
            query = dict(parse_qsl(urlsplit(link.split(">", 1)[0].lstrip("<")).query))
            assert query["try"] == "1" and query["map_index"] == "0"
        print(
            f"\nTask log of {len(whole):,} bytes through the Lambda handler: {len(sizes)} "
            f"answers of {min(sizes):,} to {max(sizes):,} bytes (JSON)"
        )
        assert text == whole
        assert len(whole) // 1_000_000 < len(sizes) <= len(whole) // 1_000_000 + 2
