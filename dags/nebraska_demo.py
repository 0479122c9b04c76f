"""Nuclei detection demo: segment microscopy images from S3 and write per-image results back.

Reads every image under ``in_bucket/in_prefix`` (run conf), corrects the uneven background
tile by tile, smooths, thresholds (Otsu, Li or Yen), labels the nuclei and writes, per image,
``<name>.csv`` (one row per object), ``<name>_bw.png`` (mask) and ``<name>_ov.png`` (overlay),
then ``summary.csv``, under ``out_bucket/out_prefix``.

S3 access: ``LABCAS_S3_ENDPOINT_URL`` (empty for AWS) and the standard ``AWS_*`` variables.
Runs on Airflow 3 (task SDK) and on Airflow 2.10.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath
from datetime import datetime
from typing import Any

try:
    from airflow.sdk import Param, dag, get_current_context, task
except ImportError:  # Airflow 2.10
    from airflow.decorators import dag, task
    from airflow.models.param import Param
    from airflow.operators.python import get_current_context

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
CSV_FIELDS = [
    "label",
    "area",
    "centroid_row",
    "centroid_col",
    "bbox_min_row",
    "bbox_min_col",
    "bbox_max_row",
    "bbox_max_col",
    "mean_intensity",
]


def _s3() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("LABCAS_S3_ENDPOINT_URL") or None
    config = Config(
        s3={"addressing_style": "path"} if endpoint else {},
        retries={"max_attempts": 3, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint, config=config)


def _run_conf() -> dict[str, Any]:
    context = get_current_context()
    conf = dict(context["dag_run"].conf or {})
    missing = [k for k in ("in_bucket", "in_prefix", "out_bucket", "out_prefix") if k not in conf]
    if missing:
        raise ValueError(f"run conf lacks {', '.join(missing)}")
    return conf


def _params() -> dict[str, Any]:
    params = get_current_context()["params"]
    return {
        "tile_size": int(params["tile_size"]),
        "threshold_method": str(params["threshold_method"]),
        "min_area": int(params["min_area"]),
    }


def _out_key(conf: dict[str, Any], name: str) -> str:
    return posixpath.join(str(conf["out_prefix"]).strip("/"), name)


def _background(image: Any, tile_size: int) -> Any:
    """Smooth background estimate: a low percentile per tile, bilinearly interpolated."""
    import numpy as np
    from skimage.transform import resize

    rows, cols = image.shape
    tr, tc = max(1, -(-rows // tile_size)), max(1, -(-cols // tile_size))
    grid = np.empty((tr, tc))
    for i in range(tr):
        for j in range(tc):
            tile = image[i * tile_size : (i + 1) * tile_size, j * tile_size : (j + 1) * tile_size]
            grid[i, j] = np.percentile(tile, 10)
    if grid.size == 1:
        return np.full(image.shape, grid[0, 0])
    return resize(grid, image.shape, order=1, mode="edge", anti_aliasing=False)


def segment_image(data: bytes, tile_size: int, method: str, min_area: int) -> dict[str, Any]:
    """Segment one image; return its object rows, mask PNG, overlay PNG and threshold."""
    import numpy as np
    from PIL import Image
    from skimage import color, filters, measure, segmentation

    with Image.open(io.BytesIO(data)) as img:
        image = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    smooth = filters.gaussian(image, sigma=1.5)
    corrected = np.clip(smooth - _background(smooth, tile_size), 0.0, None)
    threshold_fn = {
        "otsu": filters.threshold_otsu,
        "li": filters.threshold_li,
        "yen": filters.threshold_yen,
    }[method]
    threshold = float(threshold_fn(corrected)) if np.ptp(corrected) > 0 else 1.0
    labels = measure.label(corrected > threshold)
    for region in measure.regionprops(labels):
        if region.area < min_area:
            labels[labels == region.label] = 0
    labels, _, _ = segmentation.relabel_sequential(labels)
    rows = []
    for region in measure.regionprops(labels, intensity_image=image):
        r0, c0, r1, c1 = region.bbox
        rows.append(
            {
                "label": region.label,
                "area": int(region.area),
                "centroid_row": round(float(region.centroid[0]), 2),
                "centroid_col": round(float(region.centroid[1]), 2),
                "bbox_min_row": r0,
                "bbox_min_col": c0,
                "bbox_max_row": r1,
                "bbox_max_col": c1,
                "mean_intensity": round(float(region.intensity_mean) * 255, 2),
            }
        )
    mask = ((labels > 0) * 255).astype(np.uint8)
    overlay = color.label2rgb(labels, image=image, alpha=0.3, bg_label=0)
    overlay = segmentation.mark_boundaries(overlay, labels, color=(1, 1, 0))
    return {
        "rows": rows,
        "mask_png": _png(mask),
        "overlay_png": _png((np.clip(overlay, 0, 1) * 255).astype(np.uint8)),
        "threshold": threshold,
    }


def _png(array: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _csv(rows: list[dict[str, Any]], fields: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


@dag(
    dag_id="nebraska_demo",
    description="Nuclei detection demo: threshold, label and measure nuclei in microscopy images",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    tags=["labcas", "demo", "segmentation"],
    params={
        "tile_size": Param(
            64,
            type="integer",
            minimum=8,
            description="Side in pixels of the tiles used to estimate and remove the uneven "
            "background before thresholding (larger: smoother background).",
        ),
        "threshold_method": Param(
            "otsu",
            type="string",
            enum=["otsu", "li", "yen"],
            description="Automatic threshold separating nuclei from background.",
        ),
        "min_area": Param(
            20,
            type="integer",
            minimum=1,
            description="Smallest object kept, in pixels; smaller ones are discarded as noise.",
        ),
    },
)
def nebraska_demo() -> None:
    @task
    def list_inputs() -> list[str]:
        """Keys of the images under ``in_bucket/in_prefix``."""
        conf = _run_conf()
        paginator = _s3().get_paginator("list_objects_v2")
        keys = [
            obj["Key"]
            for page in paginator.paginate(Bucket=conf["in_bucket"], Prefix=conf["in_prefix"])
            for obj in page.get("Contents", [])
            if obj["Key"].lower().endswith(IMAGE_SUFFIXES)
        ]
        if not keys:
            raise ValueError(f"no images under s3://{conf['in_bucket']}/{conf['in_prefix']}")
        return sorted(keys)

    @task
    def segment(key: str) -> dict[str, Any]:
        """Segment one image and write its CSV, mask and overlay."""
        conf, params = _run_conf(), _params()
        s3 = _s3()
        data = s3.get_object(Bucket=conf["in_bucket"], Key=key)["Body"].read()
        result = segment_image(
            data, params["tile_size"], params["threshold_method"], params["min_area"]
        )
        name = posixpath.splitext(posixpath.basename(key))[0]
        out = conf["out_bucket"]
        s3.put_object(
            Bucket=out,
            Key=_out_key(conf, f"{name}.csv"),
            Body=_csv(result["rows"], CSV_FIELDS),
            ContentType="text/csv",
        )
        for suffix, field in (("_bw.png", "mask_png"), ("_ov.png", "overlay_png")):
            s3.put_object(
                Bucket=out,
                Key=_out_key(conf, f"{name}{suffix}"),
                Body=result[field],
                ContentType="image/png",
            )
        areas = [row["area"] for row in result["rows"]]
        return {
            "image": posixpath.basename(key),
            "objects": len(areas),
            "total_area": sum(areas),
            "mean_area": round(sum(areas) / len(areas), 2) if areas else 0,
            "threshold": round(result["threshold"], 4),
        }

    @task
    def summarize(results: list[dict[str, Any]]) -> int:
        """Write ``summary.csv`` (one row per image); return the number of objects found."""
        conf = _run_conf()
        rows = sorted(results, key=lambda row: row["image"])
        fields = ["image", "objects", "total_area", "mean_area", "threshold"]
        _s3().put_object(
            Bucket=conf["out_bucket"],
            Key=_out_key(conf, "summary.csv"),
            Body=_csv(rows, fields),
            ContentType="text/csv",
        )
        return sum(row["objects"] for row in rows)

    summarize(segment.expand(key=list_inputs()))


nebraska_demo()
