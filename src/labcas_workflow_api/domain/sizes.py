"""The one way sizes are shown to people (the HTML listing, the command line; the web app's
``humanSize`` follows the same rule): binary units, whole bytes below 1 KiB, else one decimal
in the largest unit that keeps the number under 1024 (KiB, MiB, GiB, TiB, then TiB on)."""

from __future__ import annotations

UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """``512 B``, ``1.5 KiB``, ``2.0 MiB``, ...; ``""`` for a negative size."""
    if n < 0:
        return ""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in UNITS[:-1]:
        if round(value, 1) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {UNITS[-1]}"
