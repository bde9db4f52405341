"""The shared nearest-rank percentile."""

from __future__ import annotations

import pytest

from bingo_ops.measure.stats import percentile


def test_nearest_rank_returns_a_sample() -> None:
    five = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(five, 50) == 3.0
    assert percentile(five, 95) == 5.0
    assert percentile(five, 20) == 1.0
    assert percentile(five, 21) == 2.0
    assert percentile([3.0], 95) == 3.0


def test_p99_of_thirty_samples_is_the_maximum() -> None:
    samples = [float(i) for i in range(30)]
    assert percentile(samples, 99) == 29.0
    assert percentile(samples, 50) == 14.0


@pytest.mark.parametrize(
    ("values", "q", "message"),
    [([], 50, "of no values"), ([1.0], 0, "q must be in"), ([1.0], 101, "q must be in")],
)
def test_nothing_to_summarise_or_a_bad_q_is_refused(
    values: list[float], q: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        percentile(values, q)
