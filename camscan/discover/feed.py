"""Targets handed from one running stage to another: the ARP sweep feeds the UDP window and the port check.

A stage that learns of hosts one at a time (an ARP reply) and a stage that probes hosts (directed
discovery, the camera-port check) run at the same time instead of one after the other. The producer calls
:meth:`Feed.put` from its thread and :meth:`Feed.close` when it is done; the consumer registers
:meth:`Feed.fileno` with its selector, so its select loop wakes when targets arrive, and calls
:meth:`Feed.take`. A consumer must not finish while the feed is open (:attr:`Feed.done` says when it may).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable


class Feed:
    """A thread-safe queue of target addresses with a wake-up descriptor (see the module docstring)."""

    def __init__(self, items: Iterable[str] = (), closed: bool = False) -> None:
        self._lock = threading.Lock()
        self._items: list[str] = list(items)
        self._closed = closed
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        if self._items or closed:
            self._wake()

    def fileno(self) -> int:
        return self._r

    def put(self, items: Iterable[str]) -> None:
        """Hand over more targets (ignored once closed)."""
        with self._lock:
            if self._closed:
                return
            before = len(self._items)
            self._items.extend(items)
            if len(self._items) > before:
                self._wake()

    def close(self) -> None:
        """No more targets will come."""
        with self._lock:
            self._closed = True
            self._wake()

    def take(self) -> list[str]:
        """The targets that arrived since the last call (and clears the wake-up)."""
        try:
            while os.read(self._r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._lock:
            items, self._items = self._items, []
            return items

    @property
    def done(self) -> bool:
        """Closed and nothing left to take."""
        with self._lock:
            return self._closed and not self._items

    def _wake(self) -> None:
        try:
            os.write(self._w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the reader is awake anyway

    def __del__(self) -> None:
        # Closed with the last reference, not by the owner: a stage thread cut off by the scan deadline may
        # still have the descriptor registered with its selector.
        for fd in (getattr(self, "_r", -1), getattr(self, "_w", -1)):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
