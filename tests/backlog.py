"""A loopback listener whose accept queue is full, for tests of connect timeouts: Linux drops new SYNs to it,
so a connect waits until its timeout."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def full_backlog(host: str = "127.0.0.1") -> Iterator[int]:
    """The port of a listener on ``host`` whose queue is full; skips the test where the kernel completes connects
    past a full backlog."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):  # fill the queue (its length is backlog + 1 on Linux)
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex((host, port))
            fillers.append(s)
        for _ in range(10):  # until a connect is seen to wait: the queue is full
            probe = socket.socket()
            probe.settimeout(0.3)
            try:
                probe.connect((host, port))
            except (TimeoutError, OSError):
                break
            finally:
                probe.close()
        else:
            pytest.skip("this kernel completes connects past a full backlog")
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()
