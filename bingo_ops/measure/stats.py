"""Summary statistics shared by benchmarks, replays and latency measurements."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank `q`-th percentile: the smallest sample with at least q% at or below it.

    Always one of the samples (no interpolation), as latency objectives are usually stated;
    with 30 samples p99 is the maximum.

    Raises:
        ValueError: no values, or `q` outside (0, 100].
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"q must be in (0, 100], got {q}")
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
