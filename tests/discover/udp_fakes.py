"""Loopback UDP responders that stand in for devices in the discovery engine tests.

Each responder binds 127.0.0.x on a shared port (one fake device per loopback address, as on a real
segment every device listens on the protocol's port) and answers each datagram through a callable.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable

Reply = Callable[[bytes, tuple[str, int]], list[bytes]]


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class UdpResponder:
    """Fake devices: answer datagrams on ``host:port`` (or on each of ``hosts``, one thread for all) with
    whatever ``reply`` returns. ``received`` lists the datagrams, ``per_host`` counts them per address."""

    def __init__(self, host: str | list[str], port: int, reply: Reply) -> None:
        self.hosts = [host] if isinstance(host, str) else list(host)
        self.socks = []
        for h in self.hosts:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((h, port))
            s.setblocking(False)
            self.socks.append(s)
        self.reply = reply
        self.received: list[bytes] = []
        self.per_host: dict[str, int] = dict.fromkeys(self.hosts, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> UdpResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()

    def _run(self) -> None:
        with selectors.DefaultSelector() as sel:
            for h, s in zip(self.hosts, self.socks, strict=True):
                sel.register(s, selectors.EVENT_READ, h)
            while not self._stop.is_set():
                for key, _mask in sel.select(0.05):
                    try:
                        data, addr = key.fileobj.recvfrom(65535)
                    except BlockingIOError:
                        continue
                    self.received.append(data)
                    self.per_host[key.data] += 1
                    for out in self.reply(data, addr):
                        try:
                            key.fileobj.sendto(out, addr)
                        except OSError:
                            pass


class Flooder:
    """Sends ``datagram`` to ``target`` as fast as it can until stopped (a hostile or broken device)."""

    def __init__(self, host: str, port: int, datagram: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.datagram = datagram
        self.target: tuple[str, int] | None = None
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Flooder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _run(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            if self.target is None:
                try:
                    _data, self.target = self.sock.recvfrom(65535)
                except TimeoutError:
                    continue
            try:
                self.sock.sendto(self.datagram, self.target)
                self.sent += 1
            except OSError:
                time.sleep(0.0005)
