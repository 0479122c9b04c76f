"""Task logs read in pages (the bytes from an offset, cut after a size or near the request
deadline), the logs of a task's map indexes joined in one.

Airflow's API serves a log whole (no byte ranges), so a page is read from the log's start and
the first ``offset`` bytes skipped (a finished try's log does not change; a running one grows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field

from labcas_workflow_api import deadline
from labcas_workflow_api.domain.errors import LabcasError
from labcas_workflow_api.domain.models import TaskInstance
from labcas_workflow_api.engines.base import WorkflowEngine

#: Seconds of the request deadline kept to answer with what was read: with less left, the
#: page ends where it is (its ``next_offset`` says where the rest begins).
ANSWER_RESERVE = 1.0


@dataclass(eq=False)
class LogPage:
    """The bytes of a task log from ``offset``: at most ``limit`` (cut as ``_cut`` says), and
    no later than ``ANSWER_RESERVE`` before the request deadline.

    ``read()`` gives the page, iterating streams it (no limit); then ``next_offset`` is where
    the rest begins (None: the log ended here) and ``note(link)`` a last line saying so.
    ``try_number``: the try read, for one try's log. Reading or ``close()`` releases the
    engine's connection.
    """

    chunks: Iterator[bytes]
    _: KW_ONLY
    offset: int = 0
    limit: int | None = None
    try_number: int | None = None
    next_offset: int | None = field(default=None, init=False)
    at_deadline: bool = field(default=False, init=False)
    _ends_line: bool = field(default=True, init=False)

    def read(self) -> bytes:
        page = bytearray()
        more = False
        try:
            for chunk in self._from_offset():
                page += chunk
                if self.limit is not None and len(page) > self.limit:
                    more = True
                    break
                if _out_of_time():
                    more = self.at_deadline = True
                    break
        finally:
            self.close()
        if not more:
            self._ends_line = not page or page.endswith(b"\n")
            return bytes(page)
        end = _cut(page, min(len(page), self.limit or len(page)))
        if end == 0:
            raise deadline.exceeded("reading the task log")
        self.next_offset = self.offset + end
        self._ends_line = page[end - 1 : end] == b"\n"
        return bytes(page[:end])

    def __iter__(self) -> Iterator[bytes]:
        """The page, chunk by chunk as the engine sends it (``limit`` is not applied)."""
        given = 0
        try:
            for chunk in self._from_offset():
                if given and _out_of_time():
                    self.next_offset, self.at_deadline = self.offset + given, True
                    return
                given += len(chunk)
                self._ends_line = chunk.endswith(b"\n")
                yield chunk
        finally:
            self.close()

    def note(self, link: str) -> bytes:
        """The last line of a cut page: why it was cut, and ``link`` to the rest."""
        why = "at the request deadline" if self.at_deadline else f"pages of {self.limit} bytes"
        line = f"[LabCAS: the log was cut at byte {self.next_offset} ({why}); the rest: {link}]"
        return (b"" if self._ends_line else b"\n") + line.encode() + b"\n"

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()

    def _from_offset(self) -> Iterator[bytes]:
        skip = self.offset
        for chunk in self.chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                if _out_of_time():
                    raise deadline.exceeded(f"skipping to byte {self.offset} of the task log")
                continue
            yield chunk[skip:] if skip else chunk
            skip = 0


def map_index_logs(
    engine: WorkflowEngine,
    workflow_id: str,
    run_id: str,
    parts: Sequence[tuple[TaskInstance, int]],
    first: Iterator[bytes],
) -> Iterator[bytes]:
    """The logs of several map indexes of a task (the first one already opened), each after a
    heading line; a log that cannot be read is noted in the text."""
    for i, (task, number) in enumerate(parts):
        yield f"--- {task.task_id}, map index {task.map_index}, try {number} ---\n".encode()
        if i == 0:
            yield from first
            continue
        try:
            chunks = engine.task_log(
                workflow_id, run_id, task.task_id, number, map_index=task.map_index
            )
        except LabcasError as exc:  # its detail may quote the engine: the kind only
            yield f"[no log: {exc.title.lower()}]\n".encode()
            continue
        yield from chunks


def page_limit(asked: int | None, most: int) -> int | None:
    """What the client ``asked`` for, at most the setting ``most`` (0: no limit); None when
    neither limits it."""
    return min(filter(None, (asked, most)), default=None)


def _out_of_time() -> bool:
    left = deadline.remaining()
    return left is not None and left < ANSWER_RESERVE


def _cut(page: bytearray, limit: int) -> int:
    """Where a page of at most ``limit`` bytes ends: after its last line end when that keeps
    at least half of it, else at its last UTF-8 character boundary (at ``limit`` in bytes
    that are not UTF-8: a character is 4 bytes at most)."""
    end = page.rfind(b"\n", 0, limit) + 1
    if end > limit // 2:
        return end
    for end in range(limit, max(limit - 4, 0), -1):
        if end >= len(page) or page[end] & 0xC0 != 0x80:
            return end
    return limit
