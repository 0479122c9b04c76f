"""docs/openapi.yml as API Gateway imports it: the REST API body Terraform deploys, checked offline.

API Gateway refuses a whole import for one bad mapping expression and attaches an authorizer
only to the methods that name it, so these rules are checked on the document as Terraform's
templatefile() renders it. The rules come from the API Gateway developer guide:

- parameter mapping sources and targets (rest-api-parameter-mapping-sources): a mapped method
  response header must be declared in that method response; sources are
  ``method.request.<where>.<name>``, ``integration.response.<header|body>...``,
  ``stageVariables.<name>``, ``context.<name>`` or a ``'static'`` value;
- stage variables (aws-api-gateway-stage-variables-reference): ``stageVariables.<name>`` in
  mappings, ``${stageVariables.<name>}`` in URIs and templates, names of letters, digits and
  underscores; each must be set on the stage Terraform creates;
- Lambda integrations: ``arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function
  or alias ARN>/invocations``, called with POST; timeouts of 50 ms to 29 s;
- gateway responses (x-amazon-apigateway-gateway-responses): known response types,
  ``gatewayresponse.header.<name>`` from request parameters, stage variables, context or statics;
- authorizers (x-amazon-apigateway-authorizer): a Lambda URI, identity sources, a cache TTL of
  0 to 3600 s.

The document must also describe exactly the routes of the FastAPI app (one source of truth):
every route the app serves is an operation here, and every operation here reaches a route.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from openapi_spec_validator import validate
from starlette.routing import Match, Mount

from labcas_workflow_api.bootstrap import Container
from labcas_workflow_api.http.app import create_app
from tests.terraform_support import (
    OPENAPI,
    TEMPLATE_EXAMPLES,
    render_openapi,
    stage_variables,
    template_placeholders,
    template_variables,
)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
AUTHORIZER = "bearer"
#: Operations anyone may call: the health checks and the web app's static files (the page asks
#: for a token itself). Every other operation must name the authorizer.
PUBLIC_OPERATIONS = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/ui/{proxy+}"),
}
#: Headers the web app sends (web/api.js) that a preflight must allow.
WEB_APP_HEADERS = {"Authorization", "Content-Type", "Accept", "Cache-Control"}
#: Paths without a CORS preflight mock: the web app is same-origin.
SAME_ORIGIN_PATHS = {"/ui/{proxy+}"}
#: Routes of the app the gateway does not route, with the reason.
NOT_ROUTED = {
    ("get", "/"): "the root redirect is relative ('ui/'): at the stage URL without a trailing "
    "slash it would leave the stage; the web app's address is <stage URL>/ui/index.html",
}
GATEWAY_RESPONSE_TYPES = {
    "ACCESS_DENIED", "API_CONFIGURATION_ERROR", "AUTHORIZER_CONFIGURATION_ERROR",
    "AUTHORIZER_FAILURE", "BAD_REQUEST_PARAMETERS", "BAD_REQUEST_BODY", "DEFAULT_4XX",
    "DEFAULT_5XX", "EXPIRED_TOKEN", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT",
    "INVALID_API_KEY", "INVALID_SIGNATURE", "MISSING_AUTHENTICATION_TOKEN", "QUOTA_EXCEEDED",
    "REQUEST_TOO_LARGE", "RESOURCE_NOT_FOUND", "THROTTLED", "UNAUTHORIZED",
    "UNSUPPORTED_MEDIA_TYPE", "WAF_FILTERED",
}  # fmt: skip

# The pieces of API Gateway's mapping expressions.
NAME = r"[A-Za-z0-9._$-]+"  # a method request parameter name: '^[a-zA-Z0-9._$-]+$'
HEADER = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # an HTTP header name (RFC 9110 token)
JSON_PATH = r"(\.[^\s]+)?"
STATIC = r"'[^']*'"
STAGE_VARIABLE = r"stageVariables\.[A-Za-z0-9_]+"
CONTEXT = r"context\.[A-Za-z0-9_.]+"
COMMON_SOURCES = rf"{STATIC}|{STAGE_VARIABLE}|{CONTEXT}"
REQUEST_SOURCE = re.compile(
    rf"^(method\.request\.(path|querystring|multivaluequerystring|header|multivalueheader)\.{NAME}"
    rf"|method\.request\.body{JSON_PATH}|{COMMON_SOURCES})$"
)
REQUEST_TARGET = re.compile(rf"^integration\.request\.(path|querystring|header)\.{NAME}$")
INTEGRATION_RESPONSE_SOURCE = re.compile(
    rf"^(integration\.response\.(header|multivalueheader)\.{HEADER}"
    rf"|integration\.response\.body{JSON_PATH}|{COMMON_SOURCES})$"
)
METHOD_RESPONSE_TARGET = re.compile(rf"^method\.response\.header\.({HEADER})$")
GATEWAY_RESPONSE_SOURCE = re.compile(
    rf"^(method\.request\.(path|querystring|multivaluequerystring|header|multivalueheader)"
    rf"\.{NAME}|{COMMON_SOURCES})$"
)
GATEWAY_RESPONSE_TARGET = re.compile(rf"^gatewayresponse\.header\.{HEADER}$")
IDENTITY_SOURCE = re.compile(
    rf"^(method\.request\.(header|querystring|multivalueheader|multivaluequerystring)\.{NAME}"
    rf"|{STAGE_VARIABLE}|{CONTEXT})$"
)
LAMBDA_ARN = (
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:"
    r"([A-Za-z0-9_-]{1,64}|\$\{stageVariables\.[A-Za-z0-9_]+\})(:[A-Za-z0-9_$-]{1,128})?"
)
LAMBDA_URI = re.compile(
    rf"^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/{LAMBDA_ARN}"
    r"/invocations$"
)
HTTP_URI = re.compile(r"^https?://[^\s]+$")
PATH_SEGMENT = re.compile(r"^([A-Za-z0-9._:-]+|\{[A-Za-z0-9._-]+\+?\})$")
STAGE_VARIABLE_USE = re.compile(r"stageVariables\.([A-Za-z0-9_]+)")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
    return document


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(render_openapi())
    return document


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(spec: dict[str, Any], item: Any) -> Any:
    while isinstance(item, dict) and "$ref" in item:
        target: Any = spec
        for part in item["$ref"][2:].split("/"):
            target = target[part]
        item = target
    return item


def declared_parameters(spec: dict[str, Any], path: str, method: str) -> set[tuple[str, str]]:
    """(in, name) of the parameters of an operation, its path's included."""
    item = spec["paths"][path]
    found = set()
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        parameter = resolve(spec, parameter)
        found.add((parameter["in"], parameter["name"]))
    return found


def failures_message(title: str, failures: list[str]) -> str:
    return title + ":\n  " + "\n  ".join(failures)


class TestDocument:
    def test_the_spec_as_written_is_valid_openapi(self, raw: dict[str, Any]) -> None:
        validate(raw)

    def test_the_rendered_spec_is_valid_openapi(self, spec: dict[str, Any]) -> None:
        validate(spec)

    def test_every_placeholder_is_passed_by_templatefile_and_every_variable_used(self) -> None:
        used = template_placeholders()
        passed = set(template_variables())
        assert used - passed == set(), (
            f"docs/openapi.yml uses placeholders that terraform/modules/api_gateway does not "
            f"pass to templatefile(): {sorted(used - passed)}"
        )
        assert passed - used == set(), f"passed to templatefile() but unused: {passed - used}"

    def test_no_templatefile_directive(self) -> None:
        assert "%{" not in OPENAPI.read_text(), "templatefile() reads %{ as a directive: write %%{"

    def test_every_stage_variable_used_is_set_on_the_stage(self, spec: dict[str, Any]) -> None:
        used = set(STAGE_VARIABLE_USE.findall(yaml.safe_dump(spec)))
        missing = used - stage_variables()
        assert missing == set(), (
            f"docs/openapi.yml uses stage variables that aws_api_gateway_stage.this does not set "
            f"(terraform/modules/api_gateway/main.tf, `variables`): {sorted(missing)}"
        )

    def test_paths_are_api_gateway_resource_paths(self, spec: dict[str, Any]) -> None:
        failures = []
        for path in spec["paths"]:
            segments = path.strip("/").split("/") if path != "/" else []
            for position, segment in enumerate(segments):
                if not PATH_SEGMENT.match(segment):
                    failures.append(f"{path}: segment {segment!r} is not a resource path part")
                elif segment.endswith("+}") and position != len(segments) - 1:
                    failures.append(f"{path}: a greedy parameter must be the last segment")
        assert not failures, failures_message("invalid resource paths", failures)


class TestIntegrations:
    def test_every_operation_is_integrated(self, spec: dict[str, Any]) -> None:
        failures = []
        for path, method, operation in operations(spec):
            integration = operation.get("x-amazon-apigateway-integration")
            if integration is None:
                failures.append(f"{method.upper()} {path}: no x-amazon-apigateway-integration")
                continue
            failures += [f"{method.upper()} {path}: {f}" for f in integration_failures(integration)]
            if method == "options":
                if integration["type"] != "mock":
                    failures.append(f"OPTIONS {path}: the preflight is answered by a mock")
            elif integration["uri"] != TEMPLATE_EXAMPLES["api_invoke_arn"]:
                failures.append(
                    f"{method.upper()} {path}: integrate with the API function's alias, "
                    '`uri: "${api_invoke_arn}"` (aws_proxy, POST, '
                    "timeoutInMillis: ${integration_timeout_ms})"
                )
        assert not failures, failures_message("API Gateway would refuse or misroute", failures)

    def test_request_and_response_mappings_are_valid_and_declared(
        self, spec: dict[str, Any]
    ) -> None:
        failures = []
        for path, method, operation in operations(spec):
            where = f"{method.upper()} {path}"
            integration = operation.get("x-amazon-apigateway-integration", {})
            declared = declared_parameters(spec, path, method)
            for target, source in integration.get("requestParameters", {}).items():
                if not REQUEST_TARGET.match(target):
                    failures.append(f"{where}: invalid request mapping target {target!r}")
                if not isinstance(source, str) or not REQUEST_SOURCE.match(source):
                    failures.append(f"{where}: invalid request mapping source {source!r}")
                    continue
                parts = source.split(".", 3)
                if source.startswith("method.request.") and parts[2] != "body":
                    place = {"querystring": "query", "multivaluequerystring": "query"}
                    wanted = (place.get(parts[2], parts[2].replace("multivalue", "")), parts[3])
                    if wanted not in declared:
                        failures.append(f"{where}: {source} maps an undeclared parameter")
            responses = operation.get("responses", {})
            for selection, answer in integration.get("responses", {}).items():
                status = str(answer.get("statusCode", ""))
                response = resolve(spec, responses.get(status))
                if response is None:
                    failures.append(
                        f"{where}: integration response {selection!r} answers {status!r}, "
                        "which the operation does not declare"
                    )
                    continue
                headers = set(response.get("headers", {}))
                for target, source in answer.get("responseParameters", {}).items():
                    match = METHOD_RESPONSE_TARGET.match(target)
                    if not match:
                        failures.append(f"{where}: invalid response mapping target {target!r}")
                    elif match.group(1) not in headers:
                        failures.append(
                            f"{where}: {target} is mapped but response {status} does not declare "
                            f"the header {match.group(1)!r} (Invalid mapping expression)"
                        )
                    if not isinstance(source, str) or not INTEGRATION_RESPONSE_SOURCE.match(source):
                        failures.append(f"{where}: invalid response mapping source {source!r}")
        assert not failures, failures_message("invalid mapping expressions", failures)

    def test_every_path_but_the_web_app_has_a_cors_preflight_mock(
        self, spec: dict[str, Any]
    ) -> None:
        failures = []
        for path, item in spec["paths"].items():
            if path in SAME_ORIGIN_PATHS:
                assert "options" not in item, f"{path} is same-origin: no preflight"
                continue
            if "options" not in item:
                failures.append(f"{path}: add an OPTIONS preflight mock (copy another path's)")
                continue
            preflight = item["options"]
            headers = preflight["x-amazon-apigateway-integration"]["responses"]["default"][
                "responseParameters"
            ]
            origin = headers.get("method.response.header.Access-Control-Allow-Origin")
            if origin != "stageVariables.allowOrigin":
                failures.append(f"{path}: Access-Control-Allow-Origin must be the allowOrigin")
            allowed = headers.get("method.response.header.Access-Control-Allow-Methods", "''")
            methods = {m.upper() for m in METHODS if m in item}
            if set(allowed.strip("'").split(",")) != methods:
                failures.append(
                    f"{path}: Access-Control-Allow-Methods {allowed} must list exactly "
                    f"{','.join(sorted(methods))}"
                )
            asked = headers.get("method.response.header.Access-Control-Allow-Headers", "''")
            missing = WEB_APP_HEADERS - set(asked.strip("'").split(","))
            if missing:
                failures.append(f"{path}: Access-Control-Allow-Headers lacks {sorted(missing)}")
            if preflight.get("security") != []:
                failures.append(f"OPTIONS {path}: a preflight carries no token: `security: []`")
        assert not failures, failures_message("CORS preflights", failures)

    def test_gateway_responses(self, spec: dict[str, Any]) -> None:
        failures = []
        for kind, answer in spec.get("x-amazon-apigateway-gateway-responses", {}).items():
            if kind not in GATEWAY_RESPONSE_TYPES:
                failures.append(f"{kind}: not a gateway response type")
            if "statusCode" in answer and not re.match(r"^[1-5][0-9]{2}$", answer["statusCode"]):
                failures.append(f"{kind}: statusCode {answer['statusCode']!r}")
            for target, source in answer.get("responseParameters", {}).items():
                if not GATEWAY_RESPONSE_TARGET.match(target):
                    failures.append(f"{kind}: invalid target {target!r}")
                if not isinstance(source, str) or not GATEWAY_RESPONSE_SOURCE.match(source):
                    failures.append(f"{kind}: invalid source {source!r}")
        assert not failures, failures_message("invalid gateway responses", failures)

    @pytest.mark.parametrize(
        ("kind", "status"),
        [
            (
                "UNAUTHORIZED",
                401,
            ),  # the authorizer raised Exception("Unauthorized"): a token problem
            ("ACCESS_DENIED", 403),  # it answered Deny: a user in no authorized_users list
            ("AUTHORIZER_FAILURE", 500),  # it failed: SSM or Secrets Manager unreadable
            ("AUTHORIZER_CONFIGURATION_ERROR", 500),
            ("INTEGRATION_TIMEOUT", 504),  # the API function did not answer in time
            ("INTEGRATION_FAILURE", 502),
        ],
    )
    def test_the_gateways_own_answers_are_problems_with_cors(
        self, spec: dict[str, Any], kind: str, status: int
    ) -> None:
        import json

        answer = spec["x-amazon-apigateway-gateway-responses"][kind]
        headers = {
            target.removeprefix("gatewayresponse.header."): source
            for target, source in answer["responseParameters"].items()
        }
        assert answer["statusCode"] == str(status)
        assert headers["Content-Type"] == "'application/problem+json'"
        assert headers["Access-Control-Allow-Origin"] == "stageVariables.allowOrigin"
        assert headers["Vary"] == "'Origin'"
        template = answer["responseTemplates"]["application/json"]
        body = json.loads(template.replace("$context.error.messageString", '"Unauthorized"'))
        assert body["status"] == status and body["type"] == "about:blank" and body["title"]
        if status == 401:
            assert headers["WWW-Authenticate"] == "'Bearer realm=\"LabCAS\"'"
            assert "WWW-Authenticate" in headers["Access-Control-Expose-Headers"]


class TestAuthorizer:
    def test_the_authorizer_is_a_lambda_request_authorizer(self, spec: dict[str, Any]) -> None:
        scheme = spec["components"]["securitySchemes"][AUTHORIZER]
        assert scheme["x-amazon-apigateway-authtype"] == "custom"
        authorizer = scheme["x-amazon-apigateway-authorizer"]
        assert authorizer["type"] == "request"
        assert authorizer["authorizerUri"] == TEMPLATE_EXAMPLES["authorizer_invoke_arn"]
        assert LAMBDA_URI.match(authorizer["authorizerUri"]), authorizer["authorizerUri"]
        sources = [s.strip() for s in authorizer["identitySource"].split(",")]
        assert sources == ["method.request.header.Authorization"]
        assert all(IDENTITY_SOURCE.match(s) for s in sources)
        assert authorizer["authorizerResultTtlInSeconds"] == 300
        assert 0 <= authorizer["authorizerResultTtlInSeconds"] <= 3600

    def test_every_protected_operation_names_the_authorizer(self, spec: dict[str, Any]) -> None:
        failures = []
        for path, method, operation in operations(spec):
            where = f"{method.upper()} {path}"
            security = operation.get("security")
            if method == "options" or (method, path) in PUBLIC_OPERATIONS:
                if security != []:
                    failures.append(f"{where}: public, so `security: []`")
            elif security is None:
                failures.append(
                    f"{where}: no `security` of its own; API Gateway ignores the document's root "
                    f"`security`: add `security: [{{{AUTHORIZER}: []}}]`"
                )
            elif security == []:
                failures.append(
                    f"{where}: `security: []` makes it public; name the authorizer, or add it to "
                    "PUBLIC_OPERATIONS of this test with the reason"
                )
            elif not any(AUTHORIZER in requirement for requirement in security):
                failures.append(f"{where}: security {security} does not name {AUTHORIZER!r}")
        assert not failures, failures_message("authorizer not attached", failures)


def integration_failures(integration: dict[str, Any]) -> list[str]:
    """What API Gateway refuses in one x-amazon-apigateway-integration."""
    failures = []
    kind = integration.get("type")
    if kind not in ("aws", "aws_proxy", "http", "http_proxy", "mock"):
        return [f"integration type {kind!r}"]
    if kind == "aws_proxy":
        if integration.get("httpMethod") != "POST":
            failures.append("a Lambda proxy integration is called with httpMethod POST")
        if not LAMBDA_URI.match(str(integration.get("uri", ""))):
            failures.append(f"not a Lambda invocation URI: {integration.get('uri')!r}")
    elif kind in ("http", "http_proxy") and not HTTP_URI.match(str(integration.get("uri", ""))):
        failures.append(f"not an HTTP(S) URI: {integration.get('uri')!r}")
    elif kind == "mock" and "requestTemplates" not in integration:
        failures.append("a mock integration needs a requestTemplates with its statusCode")
    timeout = integration.get("timeoutInMillis")
    if timeout is not None and not (isinstance(timeout, int) and 50 <= timeout <= 29000):
        failures.append(f"timeoutInMillis {timeout!r} is not 50 to 29000")
    passthrough = integration.get("passthroughBehavior", "when_no_match")
    if passthrough not in ("when_no_match", "when_no_templates", "never"):
        failures.append(f"passthroughBehavior {passthrough!r}")
    return failures


# -- the spec and the app agree ---------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    from labcas_workflow_api.bootstrap import build_container
    from labcas_workflow_api.settings import Settings
    from tests.unit.fakes import SECRET, FakeEngine, FakeStore, write_config

    settings = Settings(
        config=str(write_config(tmp_path_factory.mktemp("config"))),
        jwt_secret=SECRET,
        staging_bucket="labcas-staging",
        stage="dev",
        _env_file=None,  # type: ignore[call-arg]
    )
    container: Container = build_container(settings, engine=FakeEngine(), store=FakeStore())
    return create_app(container=container)


def normalized(path: str) -> str:
    """A path template with API Gateway's greedy {name+} read as {name}."""
    return re.sub(r"\{([^}+]+)\+\}", r"{\1}", path)


def app_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app, stage-prefixed duplicates aside;
    a static mount at /x is GET /x/{proxy} (the router's redirect of /x to /x/ aside)."""
    stage = f"/{app.state.container.settings.stage}"
    found: set[tuple[str, str]] = set()
    for path, item in app.openapi()["paths"].items():
        found |= {(method, path) for method in item if method in METHODS}
    for route in app.routes:
        if isinstance(route, Mount):
            found.add(("get", f"{route.path}/{{proxy}}"))
        elif not getattr(route, "include_in_schema", True):
            found |= {(m.lower(), route.path) for m in getattr(route, "methods", ()) - {"HEAD"}}
    return {
        (method, path)
        for method, path in found
        if not (path.startswith(f"{stage}/") and (method, path[len(stage) :]) in found)
    }


def served(app: FastAPI, method: str, path: str) -> bool:
    """Whether the app answers ``method path`` (a concrete path): a route matches it, or the
    router redirects it to the path with(out) a trailing slash that one matches."""

    def matched(candidate: str) -> bool:
        scope = {"type": "http", "path": candidate, "method": method.upper(), "root_path": ""}
        return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)

    if matched(path):
        return True
    other = path[:-1] if path.endswith("/") else f"{path}/"
    return app.router.redirect_slashes and path != "/" and matched(other)


def template_regex(template: str) -> re.Pattern[str]:
    """The concrete paths API Gateway routes to a resource path template."""
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(
        (".+" if part.endswith("+}") else "[^/]+") if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(f"^{pattern}$")


def example_path(template: str) -> str:
    """A concrete path for a template: one segment per {name}, two for a greedy {name+}."""
    return re.sub(r"\{[^}]+\}", lambda m: "a/b" if m.group(0).endswith("+}") else "x1", template)


class TestSpecAndAppAgree:
    def test_every_route_of_the_app_is_an_operation_of_the_spec(
        self, spec: dict[str, Any], app: FastAPI
    ) -> None:
        described = {(m, normalized(p)) for p, m, _ in operations(spec) if m != "options"}
        greedy = [(m, template_regex(p)) for p, m, _ in operations(spec) if p.endswith("+}")]
        missing = sorted(
            (method, path)
            for method, path in app_operations(app) - described - set(NOT_ROUTED)
            if not any(m == method and regex.fullmatch(path) for m, regex in greedy)
        )
        assert not missing, (
            "the app serves routes that docs/openapi.yml does not describe, so API Gateway "
            "would not route them (404). Add each under `paths` (greedy {name+} for a last "
            "segment that may hold '/'), with an x-amazon-apigateway-integration like the other "
            "operations', `security: [{bearer: []}]` (or `security: []` and an entry in "
            "PUBLIC_OPERATIONS of this test), and an OPTIONS preflight mock on a new path:\n  "
            + "\n  ".join(f"{method.upper()} {path}" for method, path in missing)
        )

    def test_every_operation_of_the_spec_reaches_a_route_of_the_app(
        self, spec: dict[str, Any], app: FastAPI
    ) -> None:
        unserved = [
            f"{method.upper()} {path}"
            for path, method, _ in operations(spec)
            if method != "options" and not served(app, method, example_path(path))
        ]
        assert not unserved, failures_message(
            "docs/openapi.yml describes operations that no route of the app serves", unserved
        )

    def test_a_last_segment_that_may_hold_slashes_is_greedy(
        self, spec: dict[str, Any], app: FastAPI
    ) -> None:
        templates = [(m, template_regex(p)) for p, m, _ in operations(spec)]
        failures = []
        for path, method, _ in operations(spec):
            last = path.rsplit("/", 1)[-1]
            if method == "options" or not last.startswith("{") or last.endswith("+}"):
                continue
            probe = example_path(path.rsplit("/", 1)[0]) + "/a/b"
            elsewhere = any(m == method and regex.match(probe) for m, regex in templates)
            if served(app, method, probe) and not elsewhere:
                failures.append(
                    f"{method.upper()} {path}: the app takes '/' in {last}; API Gateway "
                    f"matches one segment only: write {last[:-1]}+}}"
                )
        assert not failures, failures_message("greedy path parameters", failures)

    def test_the_exceptions_are_routes_of_the_app(self, app: FastAPI) -> None:
        for method, path in NOT_ROUTED:
            assert served(app, method, path), (method, path)
