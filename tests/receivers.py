"""Real local receivers for the notification tests: an HTTP webhook endpoint and a syslog datagram socket.

Each listens on a socket the test gives it (loopback, a unix socket in a temporary directory, or a socket
made inside an emulated site's namespace) and records what arrived; tests wait on a condition, never sleep.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        status = receiver.next_status()
        with receiver.cond:
            receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                      "status": status})
            receiver.cond.notify_all()
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class WebhookReceiver:
    """An HTTP server recording each POST. ``statuses`` are answered in turn (then 200)."""

    def __init__(self, sock: socket.socket | None = None, statuses: tuple[int, ...] = ()) -> None:
        self.requests: list[dict] = []
        self.cond = threading.Condition()
        self._statuses = list(statuses)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook, bind_and_activate=sock is None)
        if sock is not None:
            self.server.socket.close()
            self.server.socket = sock
            sock.bind(("127.0.0.1", 0))
            self.server.server_address = sock.getsockname()
            self.server.server_activate()
        self.server.receiver = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def next_status(self) -> int:
        with self.cond:
            return self._statuses.pop(0) if self._statuses else 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/T0/SECRET-TOKEN"

    def posts(self) -> list[dict]:
        with self.cond:
            return [json.loads(r["body"]) for r in self.requests]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class SyslogReceiver:
    """A unix datagram socket at ``path`` collecting syslog messages."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(10)

    def receive(self, n: int) -> list[str]:
        """The next ``n`` messages (socket timeout: a test that expects more than arrive fails, not hangs)."""
        return [self.sock.recv(65536).decode() for _ in range(n)]

    def pending(self) -> list[str]:
        """Whatever has arrived, without waiting."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                out.append(self.sock.recv(65536).decode())
        except BlockingIOError:
            return out
        finally:
            self.sock.settimeout(10)

    def __enter__(self) -> SyslogReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
