"""Test helpers that synchronise on real conditions instead of sleeps and wall-clock bounds.

``returns(fn, ...)`` runs a call that must end by itself (not at a far-off deadline) under a hang guard;
``WatchedFeed`` lets a producer thread feed hosts to a running stage one batch at a time, each after the
stage has taken the previous one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from camscan.discover.feed import Feed

# Far beyond anything that ends by itself, far short of the deadlines the guarded calls are given (600 s):
# a call still running here is waiting for its deadline, or hung.
HANG_GUARD_S = 30.0
FAR_DEADLINE_S = 600.0


def returns(fn: Callable[..., Any], *args: Any, guard: float = HANG_GUARD_S) -> Any:
    """``fn(*args)`` run in a thread; its result, or AssertionError when it is still running after ``guard``."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True, name=f"guarded {getattr(fn, '__name__', fn)}")
    t.start()
    t.join(guard)
    if t.is_alive():
        raise AssertionError(f"{getattr(fn, '__qualname__', fn)} still running after the {guard} s hang guard")
    if "error" in out:
        raise out["error"]
    return out["value"]


class WatchedFeed(Feed):
    """A Feed that says when its consumer has taken items (``taken``, an Event the producer clears)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken = threading.Event()

    def take(self) -> list[str]:
        items = super().take()
        if items:
            self.taken.set()
        return items

    def wait_taken(self, timeout: float = HANG_GUARD_S) -> None:
        assert self.taken.wait(timeout), "the stage never took what was fed"
        self.taken.clear()
