"""Write a metadata sidecar from a workflow task: ``<data key>.cfg``, INI, one section.

The section is named after the data file (its base name); keys are identifiers and values
single-line strings. The API then shows these values as the file's ``properties``.
"""

from __future__ import annotations

import configparser
import io
import posixpath
from typing import Any


def sidecar_body(file_name: str, properties: dict[str, Any]) -> bytes:
    """The sidecar of ``file_name`` holding ``properties`` (values written as text)."""
    parser = configparser.RawConfigParser(interpolation=None)
    parser.optionxform = str  # keep the keys' case
    parser.add_section(file_name)
    for key, value in properties.items():
        parser.set(file_name, key, " ".join(str(value).split()))  # one line
    out = io.StringIO()
    parser.write(out)
    return out.getvalue().encode()


def put_with_sidecar(
    s3: Any, bucket: str, key: str, body: bytes, properties: dict[str, Any], **put: Any
) -> None:
    """Write a data file and its sidecar (data first, so a listing never shows a lone .cfg)."""
    s3.put_object(Bucket=bucket, Key=key, Body=body, **put)
    s3.put_object(
        Bucket=bucket,
        Key=key + ".cfg",
        Body=sidecar_body(posixpath.basename(key), properties),
        ContentType="text/plain; charset=utf-8",
    )
