"""Logging set-up: our loggers (audit records included) at INFO or ``LABCAS_LOG_LEVEL``.

On Lambda the runtime has already put its handler on the root logger (at WARNING), so only
our loggers' level is set; elsewhere a one-line-per-record stderr handler is added too."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    level = os.environ.get("LABCAS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("labcas_workflow_api").setLevel(level)
