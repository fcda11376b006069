"""An identity probe that timed out before its device said anything, with no credentials sent, is asked once
more at collect time while the scan has time left (issue 17: devices slow only while the sweeps load the network);
nothing else is retried."""

from __future__ import annotations

import time

from camscan.models import Evidence, Host, ProbeResult, Skip
from camscan.probe.interface import Prober
from camscan.probe.plan import ProbePlan
from camscan.scheduler import Scheduler

IP = "198.51.100.7"
HOST = Host(ip=IP, seen_by=("wsd",), xaddrs=(f"http://{IP}/onvif/device_service",))


class Identity(Prober):
    name = "onvif"

    def __init__(self, answers: list[ProbeResult]) -> None:
        self.answers = answers
        self.calls = 0

    def probe(self, host: Host, ports) -> ProbeResult:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


class Nothing(Prober):
    name = "http"

    def probe(self, host: Host, ports) -> ProbeResult:
        return ProbeResult()


def silent() -> ProbeResult:
    return ProbeResult(skips=[Skip(IP, "onvif", "timed out after 3 s")], again=True)


def identified() -> ProbeResult:
    return ProbeResult(evidence=[Evidence("onvif.GetDeviceInformation", "manufacturer", "Acme")])


def run(identity: Identity, left: float = 30.0) -> tuple[dict, list[Skip]]:
    jobs = Scheduler(workers=2)
    jobs.use(ProbePlan(identity=identity, web=Nothing()))
    try:
        jobs.discovered(HOST)
        skips: list[Skip] = []
        onvif, _evidence = jobs.collect(time.monotonic() + left, skips)
        return onvif, skips
    finally:
        jobs.pool.shutdown(wait=True)


def test_a_silent_timeout_is_asked_once_more_and_the_answer_replaces_it():
    identity = Identity([silent(), identified()])
    onvif, _skips = run(identity)
    assert identity.calls == 2
    assert onvif[IP].evidence == identified().evidence and onvif[IP].skips == []


def test_a_second_silence_keeps_the_first_skip_and_there_is_no_third_try():
    identity = Identity([silent(), silent(), identified()])
    onvif, _skips = run(identity)
    assert identity.calls == 2
    assert [s.reason for s in onvif[IP].skips] == ["timed out after 3 s"]


def test_nothing_else_is_retried():
    refused = ProbeResult(skips=[Skip(IP, "onvif", "bad credentials: the device rejected the username/password")])
    identity = Identity([refused, identified()])
    onvif, _skips = run(identity)
    assert identity.calls == 1 and onvif[IP] is refused


def test_no_second_try_without_time_left():
    identity = Identity([silent(), identified()])
    onvif, _skips = run(identity, left=1.0)
    assert identity.calls == 1 and onvif[IP].again
