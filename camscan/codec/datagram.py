"""What a discovery codec makes of one datagram (:class:`Parsed`), shared by the codecs and the UDP engine."""

from __future__ import annotations

from dataclasses import dataclass

from camscan.models import Evidence

MAX_DATAGRAM = 65535  # the largest UDP payload: the receive buffer of one datagram


@dataclass(frozen=True)
class Parsed:
    """What one valid reply says: evidence, and what the engine keeps on the Host beside it."""

    evidence: tuple[Evidence, ...]
    mac: str | None = None
    xaddrs: tuple[str, ...] = ()
    endpoint: str | None = None
