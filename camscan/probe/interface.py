"""The probe stage's contract: a prober takes a host and its ports and returns a probe result.

A :class:`Prober` asks one host what it is over one protocol and returns a :class:`~camscan.models.ProbeResult`
(evidence, skips, the MAC the device reported); it never raises for a device's behaviour. Which prober runs
on which ports, and when, is the :class:`camscan.probe.plan.ProbePlan`'s and the scheduler's business
(:mod:`camscan.scheduler`), not the prober's: it is handed the ports to ask.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from camscan.models import Host, ProbeResult


class Prober(ABC):
    """One protocol's probe of one host. ``name`` is its stage (the skips' and the coverage's word for it)."""

    name: str = ""

    @abstractmethod
    def probe(self, host: Host, ports: Sequence[int]) -> ProbeResult:
        """What ``host`` says on ``ports`` (the prober's own protocol only)."""
