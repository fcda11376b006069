"""The probe plan: which prober runs on which ports of a host, and the live probers over a transport.

* identity: the ONVIF device service (:class:`OnvifProber`), at the address a host advertised in discovery,
  or on its open ONVIF-capable ports (ONVIF Core 5.1.1 fixes the path, not the port: 80 most, 8000/8080
  some NVRs, 8899 Xiongmai-class boards, 2020 TP-Link Tapo);
* web: HTTP(S) on the open web ports and the ones the host advertised (:class:`HttpProber`);
* others: RTSP on 554 (:class:`RtspProber`) and the TLS certificate on 443/8443 (:class:`TlsProber`).

When each runs is the scheduler's (:mod:`camscan.scheduler`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from camscan.discover.wsd import device_service_url
from camscan.models import Evidence, Host, ProbeResult, ScanOptions, Skip
from camscan.probe.http import HttpPlan, HttpProbe, default_plan, http_services
from camscan.probe.interface import Prober
from camscan.probe.onvif import OnvifClientFactory, OnvifProbe
from camscan.probe.rtsp import RtspProbe
from camscan.probe.tls import TlsProbe
from camscan.transport import Transport

ONVIF_PORTS = (80, 8080, 8000, 8899, 2020)
RTSP_PORTS = (554,)
TLS_PORTS = (443, 8443)


class OnvifProber(Prober):
    """The ONVIF identity of a host: with no ports, at the device-service address the host advertised; with
    ports, on the first of its ONVIF-capable ports that answers as a device service."""

    name = "onvif"

    def __init__(self, factory: Callable[[], OnvifClientFactory], options: ScanOptions, transport: Transport,
                 deadline: float | None = None, ports: Sequence[int] = ONVIF_PORTS) -> None:
        self.factory = factory  # the parsed WSDL (its parse, started with the scan, may still be running)
        self.options = options
        self.transport = transport
        self.deadline = deadline
        self.ports = tuple(ports)

    def probe(self, host: Host, ports: Sequence[int]) -> ProbeResult:
        if not ports:
            # with credentials to give, the https XAddr of a device offering both (issue 12)
            url = device_service_url(host.xaddrs, host.ip, prefer_https=self.options.credentials is not None)
            if url is None:
                return ProbeResult(skips=[Skip(host.ip, "onvif", "no usable device-service XAddr in the "
                                                                  "discovery reply")])
            return self.at(host.ip, url)
        for port in (p for p in self.ports if p in ports):
            result = self.at(host.ip, f"http://{host.ip}:{port}/onvif/device_service")
            if any(e.source.startswith("onvif.") and e.field != "error" for e in result.evidence):
                return result  # one device service is the device's identity
        return ProbeResult()

    def at(self, ip: str, url: str) -> ProbeResult:
        with self.transport.gate.waiting():
            parsed = self.factory()
        opts = self.options
        return OnvifProbe(parsed, timeout=opts.timeout, max_bytes=opts.max_reply_bytes, deadline=self.deadline,
                          transport=self.transport).probe(ip, url)


class HttpProber(Prober):
    """The web server of a host on ``ports`` (schemes from the HTTP plan and what the host advertised)."""

    name = "http"

    def __init__(self, options: ScanOptions, transport: Transport, deadline: float | None = None,
                 plan: HttpPlan | None = None) -> None:
        self.options = options
        self.transport = transport
        self.deadline = deadline
        self.plan = plan or default_plan()

    def probe(self, host: Host, ports: Sequence[int]) -> ProbeResult:
        wanted = set(ports)
        services = [s for s in http_services(host, ports, self.plan) if s[1] in wanted]
        if not services:
            return ProbeResult()
        got = HttpProbe(self.options.timeout, self.options.max_reply_bytes, plan=self.plan, deadline=self.deadline,
                        transport=self.transport).probe(host.ip, services)
        return ProbeResult(evidence=got.evidence, skips=got.skips)


class _EachPort(Prober):
    """A probe of each of its ``ports`` among those handed to it; a few bytes each, so the whole probe waits
    on the device outside the CPU gate."""

    default_ports: tuple[int, ...] = ()

    def __init__(self, options: ScanOptions, transport: Transport, deadline: float | None = None,
                 ports: Sequence[int] | None = None) -> None:
        self.options = options
        self.transport = transport
        self.deadline = deadline
        self.ports = tuple(self.default_ports if ports is None else ports)

    def probe(self, host: Host, ports: Sequence[int]) -> ProbeResult:
        out = ProbeResult()
        with self.transport.gate.waiting():
            for port in (p for p in self.ports if p in ports):
                ev, sk = self.one(host.ip, port)
                out.evidence += ev
                out.skips += sk
        return out

    def one(self, ip: str, port: int) -> tuple[Sequence[Evidence], Sequence[Skip]]:
        raise NotImplementedError


class RtspProber(_EachPort):
    """OPTIONS and DESCRIBE on the RTSP ports among ``ports``."""

    name = "rtsp"
    default_ports = RTSP_PORTS

    def one(self, ip: str, port: int) -> tuple[Sequence[Evidence], Sequence[Skip]]:
        return RtspProbe(self.options.timeout, transport=self.transport, deadline=self.deadline).probe(ip, port)


class TlsProber(_EachPort):
    """The certificate of each TLS port among ``ports``."""

    name = "tls"
    default_ports = TLS_PORTS

    def one(self, ip: str, port: int) -> tuple[Sequence[Evidence], Sequence[Skip]]:
        return TlsProbe(self.options.timeout, transport=self.transport, deadline=self.deadline).probe(ip, port)


@dataclass(frozen=True)
class ProbePlan:
    """Which prober runs on which ports: ``identity`` (ONVIF) on ``identity_ports``, ``web`` on the web
    services :meth:`web_services` names, ``others`` (RTSP, TLS) on the open ports they know."""

    identity: Prober
    web: Prober
    others: tuple[Prober, ...] = ()
    identity_ports: tuple[int, ...] = ONVIF_PORTS
    http: HttpPlan | None = None

    @property
    def methods(self) -> list[str]:
        return [self.identity.name, self.web.name, *(p.name for p in self.others)]

    def web_services(self, host: Host | None, open_ports: Sequence[int]) -> list[tuple[str, int]]:
        """(scheme, port) of a host's web servers: its open web ports and the HTTP ports it advertised."""
        return http_services(host, open_ports, self.http)

    def evidence_ports(self, host: Host, open_ports: Sequence[int]) -> list[int]:
        """The ports a host's evidence job asks: open ports plus the web ports it advertised."""
        return sorted(set(open_ports) | {p for _s, p in self.web_services(host, open_ports)})

    def has_identity_port(self, open_ports: Sequence[int]) -> bool:
        return any(p in open_ports for p in self.identity_ports)


def live_plan(options: ScanOptions, transport: Transport, deadline: float | None,
              factory: Callable[[], OnvifClientFactory]) -> ProbePlan:
    """The plan of a scan: every prober over ``transport``, none running past ``deadline``."""
    return ProbePlan(identity=OnvifProber(factory, options, transport, deadline),
                     web=HttpProber(options, transport, deadline),
                     others=(RtspProber(options, transport, deadline), TlsProber(options, transport, deadline)),
                     http=default_plan())
