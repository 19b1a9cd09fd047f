"""Text sparklines (▁▂▃▄▅▆▇█) for table cells: a picture of a trend that sorts, copies and
exports as text, and needs no chart per row."""

from __future__ import annotations

from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"
GAP = "·"  # a month without a value (no controls, or below the minimum sample)


def spark_text(values: Sequence[float | None] | None) -> str:
    """One character per value, scaled between the series' own minimum and maximum; a flat
    series sits at the bottom when it is zero (no hits is the lowest bar, not a solid block)
    and in the middle otherwise."""
    if not values:
        return ""
    present = [v for v in values if v is not None]
    if not present:
        return GAP * len(values)
    low, high = min(present), max(present)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(GAP)
        elif span == 0:
            out.append(BARS[0] if v == 0 else BARS[len(BARS) // 2])
        else:
            out.append(BARS[round((v - low) / span * (len(BARS) - 1))])
    return "".join(out)
