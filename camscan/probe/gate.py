"""One probe thread runs Python at a time; the others wait on their devices.

A scan's probe threads (ONVIF through zeep, HTTP evidence) are mostly CPU when the network is fast, and
CPython runs one thread's bytecode at a time anyway. What many runnable threads do cost is latency for the
scan's own I/O loops (the ARP sweep, the UDP window, the port check): each of their system calls releases
the GIL, and getting it back means competing with every runnable probe thread, up to the switch interval
(5 ms) per call. Measured on 2 cores with 16 busy threads, a 600-connect port check took 4.6-23 s instead
of 0.6 s; with one busy thread, 0.6-0.8 s.

So probe jobs hold a slot of :data:`GATE` while they compute and give it up while they wait on a socket
(:meth:`CpuGate.waiting` around every blocking call of :mod:`camscan.probe.httpclient`, and around the
RTSP and TLS probes, which do little else). Many devices are still waited on at once, which is what the
threads are for; the loops compete with one probe thread at most. Outside a scan (a probe called
directly, in a test) no slot is held and :meth:`CpuGate.waiting` does nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class CpuGate:
    """``slots`` threads may hold the gate at a time (see the module docstring). Reentrant per thread."""

    def __init__(self, slots: int = 1) -> None:
        self._sem = threading.Semaphore(slots)
        self._local = threading.local()

    def _held(self) -> bool:
        return getattr(self._local, "held", False)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for the body (a probe job); nested use on one thread holds the same slot."""
        if self._held():
            yield
            return
        self._sem.acquire()
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            self._sem.release()

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the slot up while the body blocks (a socket call), and take it back after."""
        if not self._held():
            yield
            return
        self._local.held = False
        self._sem.release()
        try:
            yield
        finally:
            self._sem.acquire()
            self._local.held = True

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` holding a slot (for submitting probe jobs to an executor)."""
        with self.held():
            return fn(*args, **kwargs)


GATE = CpuGate(1)
