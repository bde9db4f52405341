"""Asynchronous invocations in the emulator: posting jobs queued, retried as Lambda retries them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bingo_ops.emulator.dispatch import InProcessDispatcher
from bingo_ops.emulator.lambdas import ASYNC_RETRIES, LambdaRuntime
from bingo_ops.emulator.metering import Meter


class Flaky:
    """A handler that fails its first `failures` calls, then returns the event it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, event: dict[str, Any], context: object) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"attempt {self.calls} failed")
        return event


def _invocations(meter: Meter, name: str) -> int:
    return int(meter.snapshot()["lambda"]["functions"][name]["invocations"])


def test_a_failing_event_is_retried_twice_and_each_attempt_is_metered() -> None:
    meter = Meter()
    runtime = LambdaRuntime(meter, workers=2)
    try:
        healed = Flaky(failures=ASYNC_RETRIES)
        assert runtime.start("job", healed, {"n": 1}).result(timeout=10) == {"n": 1}
        assert healed.calls == _invocations(meter, "job") == ASYNC_RETRIES + 1

        broken = Flaky(failures=99)
        with pytest.raises(RuntimeError, match="attempt 3 failed"):
            runtime.start("broken", broken, {}).result(timeout=10)
        assert broken.calls == _invocations(meter, "broken") == ASYNC_RETRIES + 1
    finally:
        runtime.close()


def test_the_dispatcher_accepts_every_job_and_refuses_once_the_runtime_is_closed() -> None:
    meter = Meter()
    runtime = LambdaRuntime(meter, workers=2)
    seen: list[dict[str, Any]] = []
    dispatcher = InProcessDispatcher(runtime, "post_players", lambda e, c: seen.append(e))
    assert dispatcher.dispatch([{"postJob": {"gameId": "a"}}, {"postJob": {"gameId": "b"}}]) == [
        None,
        None,
    ]
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the jobs run on the workers, unawaited
    runtime.close()
    assert sorted(e["postJob"]["gameId"] for e in seen) == ["a", "b"]
    assert _invocations(meter, "post_players") == 2
    (refused,) = dispatcher.dispatch([{"postJob": {"gameId": "c"}}])
    assert refused is not None
    assert "shutdown" in refused
