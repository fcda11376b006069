"""The discovery stage's contract: a source finds hosts and hands each on as soon as it is known.

A :class:`DiscoverySource` runs until its ``deadline`` (``time.monotonic()``) and returns a
:class:`~camscan.models.DiscoveryResult`. While it runs it tells a :class:`DiscoverySink` (the scan's
scheduler, :class:`camscan.scheduler.Scheduler`) about each host the moment it answers and each host's open
camera ports the moment they are known, so the probes of a host start while discovery goes on.

Sources: :class:`camscan.discover.live.LiveDiscovery` (ARP, the UDP window, IPv6 WS-Discovery and the port
check, on the network) and :class:`camscan.replay.RecordedDiscovery` (device folders, no network).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from camscan.models import DiscoveryResult, Host


class DiscoverySink(ABC):
    """Where a source hands what it found while it runs (both may be called from any thread)."""

    @abstractmethod
    def discovered(self, host: Host) -> None:
        """A host answered a discovery protocol (again, when another protocol answers too)."""

    @abstractmethod
    def ports_known(self, ip: str, ports: Sequence[int]) -> None:
        """The camera-port check of ``ip`` is over: these ports are open."""


class DiscoverySource(ABC):
    """One discovery stage (see the module docstring)."""

    @abstractmethod
    def run(self, deadline: float, sink: DiscoverySink) -> DiscoveryResult:
        """Discover until ``deadline``; never raises for a device's behaviour (a skip says what went wrong)."""
