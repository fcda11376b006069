"""Loopback TCP servers that stand in for a device's web or ONVIF service in the probe tests.

:class:`LoopbackDevice` accepts on 127.0.0.1 (optionally with a server-side TLS handshake) and hands each
connection to ``serve`` on a thread of its own, as a :class:`Peer` that reads whole requests (head and
``Content-Length`` body) and records them in ``device.requests``. Replies are written by each test.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

from camscan.probe.httpclient import Connection

LOOPBACK = "127.0.0.1"


class Peer:
    """One accepted connection, as the device's side of it sees it."""

    def __init__(self, sock: socket.socket, device: LoopbackDevice) -> None:
        self.sock = sock
        self.device = device
        self._buf = b""

    def request(self) -> bytes | None:
        """The next request (head and body), or None once the client closed."""
        while b"\r\n\r\n" not in self._buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buf += chunk
        head, _, rest = self._buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            rest += chunk
        self._buf = rest[need:]
        req = head + b"\r\n\r\n" + rest[:need]
        with self.device.lock:
            self.device.requests.append(req)
        return req

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reset(self) -> None:
        """Close with an RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class LoopbackDevice:
    """A TCP server on 127.0.0.1 that hands every connection to ``serve`` (on its own thread); with a
    ``tls`` context, after a server-side TLS handshake."""

    def __init__(self, serve: Callable[[Peer], None], tls: ssl.SSLContext | None = None) -> None:
        self.serve = serve
        self.tls = tls
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            if self.tls is not None:
                time.sleep(0.1)  # so that the client's handshake always has to wait for the ServerHello
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.serve(Peer(conn, self))
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def connect(self, **kw) -> Connection:  # type: ignore[no-untyped-def]
        kw.setdefault("timeout", 3.0)
        return Connection(LOOPBACK, self.port, tls=self.tls is not None, **kw)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
