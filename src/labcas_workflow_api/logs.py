"""Logging set-up for the standalone server: one line per record on stderr."""

from __future__ import annotations

import logging
import os


def configure_logging() -> None:
    """INFO (or ``LABCAS_LOG_LEVEL``) for our loggers, audit records included."""
    level = os.environ.get("LABCAS_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("labcas_workflow_api").setLevel(level)
