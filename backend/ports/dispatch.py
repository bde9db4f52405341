"""The dispatch port: start invocations of the posting function without waiting for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Dispatcher(Protocol):
    """Starts one asynchronous invocation of the posting function per job (Lambda `Event`)."""

    def dispatch(self, jobs: Sequence[Mapping[str, Any]]) -> list[str | None]:
        """Start every job; never raises for a single job's failure.

        Returns:
            Per job, in order: None when the invocation was accepted, else why it was not.
        """
        ...
