"""Synthetic microscopy-like images (bright nuclei on a noisy, unevenly lit background)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def make_images(n: int = 3, size: int = 256, seed: int = 0) -> dict[str, bytes]:
    """``n`` PNG images named ``nuclei_<i>.png``, reproducible for a given ``seed``."""
    images = {}
    for i in range(n):
        buffer = io.BytesIO()
        Image.fromarray(_image(size, seed + i)).save(buffer, format="PNG")
        images[f"nuclei_{i:02d}.png"] = buffer.getvalue()
    return images


def _image(size: int, seed: int) -> np.ndarray:
    """One 8-bit grayscale image of ``size`` x ``size`` pixels with elliptical nuclei.

    The background carries a smooth illumination gradient and Gaussian noise, so a segmentation
    has something to correct for; nuclei vary in size, brightness and orientation.
    """
    if size < 16:
        raise ValueError("size must be at least 16")
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    image = 0.08 + 0.10 * (cols / size) + 0.05 * (rows / size)
    radius = size / 24
    for _ in range(int(rng.integers(8, 16))):
        r0, c0 = rng.uniform(radius * 1.5, size - radius * 1.5, size=2)
        a, b = rng.uniform(0.7, 1.4, size=2) * radius
        theta = rng.uniform(0, np.pi)
        dr, dc = rows - r0, cols - c0
        u = dr * np.cos(theta) + dc * np.sin(theta)
        v = -dr * np.sin(theta) + dc * np.cos(theta)
        inside = (u / a) ** 2 + (v / b) ** 2
        image += rng.uniform(0.35, 0.6) * np.exp(-(inside**3))
    image += rng.normal(0.0, 0.03, size=image.shape)
    pixels: np.ndarray = (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels
