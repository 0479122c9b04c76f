"""schemathesis in stateful mode against ``docs/openapi.yml`` and the server on the real stack.

Scenarios follow the spec's links (discover a workflow, start a run, read it, its task logs,
cancel it, list runs) with generated data in between; every answer must be in the spec and
none may be a 5xx. The run also counts which operations were exercised, so a spec that stops
linking an operation fails here instead of silently testing less. Three shorter passes over
the workflow, the output and the WES operations alone make sure their deeper links (a run, its task
log; a folder, then annotating it) are walked whatever state earlier tests left.

Not checked: that schema-valid requests are accepted (``positive_data_acceptance``). The spec
cannot say that a body's ``workflow_id`` must equal the path's, that a ``text/plain`` body
holds JSON, or which params each DAG accepts (422), so "valid by the schema" is not "valid".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.security.matrix import generated_config, selections_of
from tests.security.stack import Api
from tests.support.heads import refused_head

pytestmark = pytest.mark.integration

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yml"
USER = "thomas"


def run_scenarios(
    api: Api, schema: Any, examples: int, seen: Counter[str], statuses: Counter[int]
) -> None:
    token = api.token(USER)

    @schema.auth()
    class Bearer:
        def get(self, case: schemathesis.Case, context: Any) -> str:
            return token

        def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    usable = sorted(selections_of(generated_config(), USER))

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
        """Most generated run requests are plausible ones (the data selection given, or one
        the user may use, and a known param), so that scenarios also start runs and follow
        them whatever the generated sequence looks like."""
        operation = context.operation
        if operation is None or operation.label != "POST /workflows/{workflow_id}/runs":
            return st.just(body)
        if not isinstance(body, dict) or not isinstance(body.get("in_data_selection"), str):
            return st.just(body)
        given = {"in_data_selection": body["in_data_selection"], "note": "stateful"}
        known = st.sampled_from(usable).map(
            lambda selection: {"in_data_selection": selection, "note": "stateful"}
        )
        return st.one_of(st.sampled_from([body, given]), known, known)

    class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": api.url, "timeout": 30}

        def validate_response(
            self,
            response: Any,
            case: schemathesis.Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            if refused_head(response):
                return
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=[positive_data_acceptance],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            seen[f"{case.operation.method.upper()} {case.operation.path}"] += 1
            statuses[response.status_code] += 1

    Scenarios.run(
        settings=settings(
            max_examples=examples,
            stateful_step_count=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )


def test_stateful_scenarios_conform(api: Api) -> None:
    seen: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    whole = schemathesis.openapi.from_path(SPEC).exclude(method="OPTIONS")
    run_scenarios(api, whole, 300, seen, statuses)
    for part in ("^/workflows", "^/output-data", "^/ga4gh/wes"):
        focused = (
            schemathesis.openapi.from_path(SPEC).exclude(method="OPTIONS").include(path_regex=part)
        )
        run_scenarios(api, focused, 60, seen, statuses)
    print(f"\nstateful: {sum(seen.values())} calls, statuses {dict(sorted(statuses.items()))}")
    for operation, count in sorted(seen.items()):
        print(f"  {count:4d}  {operation}")
    assert not [s for s in statuses if s >= 500]
    every = {
        f"{result.ok().method.upper()} {result.ok().path}"
        for result in whole.get_all_operations()
        if result.ok().method.upper() != "OPTIONS"
    }
    # service-info takes no input and holds no state: the stateless pass over every operation
    # (tests/integration/test_openapi_conformance.py) checks it
    every.discard("GET /ga4gh/wes/v1/service-info")
    assert every - set(seen) == set(), "operations no scenario reached"
