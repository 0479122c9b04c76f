"""The one error tree of the service; edges (HTTP, Lambda) map it to problem+json.

LabcasError                      base; ``status`` is the HTTP status it maps to
├── BadRequest (400)             malformed input: bad JSON, hostile path, reserved key
├── Unauthenticated (401)        missing, malformed, expired or badly signed token
├── Forbidden (403)              valid caller, no right to the resource
├── NotFound (404)               unknown, or not visible to the caller
├── Conflict (409)               paused workflow, finished run, ...
├── PreconditionFailed (412)     a conditional write found another version than expected
├── PayloadTooLarge (413)        a request body over the size limit
├── ClientGone (499)             the client went away before sending its whole request
├── InvalidParameters (422)      run parameters failing the workflow's param schema
├── IdempotencyKeyReused (422)   an Idempotency-Key sent again with a different request
├── ConfigError (503)            an access config or secret that does not load (names the key)
└── UpstreamError                the engine, storage or an AWS service failed
    ├── UpstreamBadResponse (502)
    ├── UpstreamUnavailable (503)
    └── UpstreamTimeout (504)
        └── DeadlineExceeded (504)  the request's own deadline passed (``deadline.py``)

Who reads ``detail``: the caller, for a 4xx (it names the caller's mistake in our words, never
an internal host, bucket, path or an upstream's own text; ``internal`` holds such text for the
log); the operators only, for a 5xx (the edge answers with a public text and the request id,
and logs the detail under that id).
"""

from __future__ import annotations

from typing import Any, Self


class LabcasError(Exception):
    """Base of every error the service raises on purpose."""

    status: int = 500
    title: str = "Internal error"

    def __init_subclass__(cls, status: int | None = None, title: str | None = None) -> None:
        cls.status = cls.status if status is None else status
        cls.title = cls.title if title is None else title

    def __init__(self, detail: str, *, internal: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        #: what the operators should know and the caller must not see (logged by the edge)
        self.internal = internal
        #: more members of the problem answer (``parameter``, ``run_id``)
        self.extra = extra

    def again(self) -> Self:
        """The same error anew, for another thread to raise (one exception object raised in
        several threads would share, and keep growing, one traceback)."""
        return type(self)(self.detail, internal=self.internal, **self.extra)


class BadRequest(LabcasError, status=400, title="Bad request"): ...


class Unauthenticated(LabcasError, status=401, title="Unauthenticated"): ...


class Forbidden(LabcasError, status=403, title="Forbidden"): ...


class NotFound(LabcasError, status=404, title="Not found"): ...


class Conflict(LabcasError, status=409, title="Conflict"): ...


class PreconditionFailed(LabcasError, status=412, title="Precondition failed"): ...


class PayloadTooLarge(LabcasError, status=413, title="Payload too large"): ...


class ClientGone(LabcasError, status=499, title="Client closed request"):
    """The client closed its connection before sending its whole request (nginx's 499):
    nothing was done, and nobody reads the answer."""


class InvalidParameters(LabcasError, status=422, title="Invalid parameters"): ...


class IdempotencyKeyReused(LabcasError, status=422, title="Idempotency key reused"): ...


class ConfigError(LabcasError, status=503, title="Service not configured"):
    """The access config (or a setting) is invalid; ``detail`` names the bad key."""


class UpstreamError(LabcasError, status=502, title="Upstream error"): ...


class UpstreamBadResponse(UpstreamError, title="Bad response from upstream"): ...


class UpstreamUnavailable(UpstreamError, status=503, title="Upstream unavailable"): ...


class UpstreamTimeout(UpstreamError, status=504, title="Upstream timeout"): ...


class DeadlineExceeded(UpstreamTimeout, title="Deadline exceeded"):
    """The request ran out of time: its deadline (``LABCAS_REQUEST_TIMEOUT``, or what Lambda
    leaves) passed while it waited, or too little of it is left for the next wait."""

    #: the deadline's length as the caller may read it (``"25 s "``), or empty
    budget = ""

    def again(self) -> DeadlineExceeded:
        error = super().again()
        error.budget = self.budget
        return error
