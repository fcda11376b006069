"""CycloneDX 1.6 JSON (an inventory BOM) for asset and vulnerability systems, built with cyclonedx-python-lib.

Each reported device is a component of type ``device``: ``manufacturer`` the maker camscan identified (the
brand it is sold as, when different, in ``camscan:brand``), ``name`` its model, ``version`` its firmware, and
the rest as ``camscan:`` properties: IP, MAC, serial, hostname, verdict, confidence, the manufacturer's basis,
device class, and for each finding the entity, the lists with dates, and the summary; a camera seen only
behind a recorder has ``camscan:via.*`` properties (recorder address and key, channel, address, protocol).
``bom-ref`` is the inventory key (MAC, serial, endpoint id, ``via:`` or IP), so the same device keeps its
reference across scans. Each known-exploited vulnerability of a device (CISA KEV, ``camscan/data/risks.toml``)
is a BOM ``vulnerability``: ``id`` the CVE, source the KEV catalog, the vendor advisory (id and URL), the
evidence in ``detail``, ``camscan:match`` (exact or possible) and ``camscan:kev_date_added``, affecting that
device's component. The scan itself is the BOM's metadata (time, targets, the tool); the legal note is a BOM
property.

Device strings pass through :func:`camscan.report.text.escape` (control and bidi characters shown as escapes);
the JSON encoder escapes the rest.
"""

from __future__ import annotations

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.vulnerability import BomTarget, Vulnerability, VulnerabilityAdvisory, VulnerabilitySource
from cyclonedx.output.json import JsonV1Dot6

from camscan import __version__
from camscan.models import Device, ScanResult
from camscan.report.common import VERDICT_ORDER
from camscan.report.text import escape

_LIMIT = 1000


def _props(pairs: list[tuple[str, object]]) -> list[Property]:
    return [Property(name=f"camscan:{name}", value=escape(value, _LIMIT)) for name, value in pairs
            if value not in (None, "")]


def _ref(d: Device) -> str:
    """The device's ``bom-ref``: its inventory key, prefixed by its site in a cross-site report (keys are
    unique within a site); the component and its vulnerabilities' ``affects`` share it."""
    return escape(f"{d.site}/{d.key}" if d.site else d.key, _LIMIT)


def component(d: Device) -> Component:
    pairs: list[tuple[str, object]] = [
        ("ip", d.ip), ("mac", d.mac), ("serial", d.serial), ("hostname", d.hostname), ("brand", d.brand),
        ("verdict", str(d.verdict)), ("confidence", f"{d.confidence:.2f}"),
        ("manufacturer_basis", d.manufacturer_basis), ("device_class", d.device_class),
        ("hardware_id", d.hardware_id), ("seen_by", ", ".join(d.seen_by)), ("site", d.site),
    ]
    for f in d.findings:
        lists = "; ".join(f"{c.name} (since {c.date})" if c.date else c.name for c in f.lists)
        pairs += [("finding.entity", f.entity_name), ("finding.verdict", str(f.verdict)),
                  ("finding.lists", lists), ("finding.summary", f.summary)]
        pairs += [("finding.citation_url", c.url) for c in f.lists if c.url]
    for w in d.warnings:
        pairs.append(("warning", w))
    if d.via is not None:
        pairs += [("via.recorder_ip", d.via.recorder_ip), ("via.recorder_key", d.via.recorder_key),
                  ("via.channel", d.via.channel), ("via.address", d.via.address), ("via.protocol", d.via.protocol)]
    maker = d.manufacturer or d.brand
    return Component(
        type=ComponentType.DEVICE,
        name=escape(d.model or maker or d.ip, _LIMIT),
        version=escape(d.firmware, _LIMIT) or None,
        manufacturer=OrganizationalEntity(name=escape(maker, _LIMIT)) if maker else None,
        bom_ref=_ref(d),
        properties=_props(pairs),
    )


KEV = VulnerabilitySource(name="CISA Known Exploited Vulnerabilities catalog",
                          url=XsUri("https://www.cisa.gov/known-exploited-vulnerabilities-catalog"))


def vulnerabilities(d: Device) -> list[Vulnerability]:
    """The device's known-exploited vulnerabilities, each affecting its component (``bom-ref`` = its key)."""
    ref = _ref(d)
    return [Vulnerability(
        bom_ref=f"{ref}#{r.cve}", id=r.cve, source=KEV, description=r.title or None, detail=escape(r.why, _LIMIT),
        advisories=[VulnerabilityAdvisory(url=XsUri(r.advisory_url), title=r.advisory)] if r.advisory_url else None,
        affects=[BomTarget(ref=ref)],
        properties=_props([("match", r.match), ("kev_date_added", r.kev_date_added)])) for r in d.risks]


def bom(result: ScanResult, note: str = "") -> Bom:
    b = Bom()
    b.metadata.timestamp = result.finished
    b.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="camscan",
                                              version=__version__))
    b.metadata.properties.update(_props([
        ("scan_id", result.scan_id), ("scan.start", result.started.isoformat()),
        ("targets", ", ".join(result.targets)), ("flagged", len(result.flagged)), ("legal_note", note)]
        # a report covering several sites: each one's latest scan, as the other formats lead with it
        + [(f"site.{s.site}", f"{s.devices} device(s), {s.flagged} flagged, last scan #{s.scan_id} started "
                              f"{s.started.isoformat()}") for s in result.sites]))
    for verdict in VERDICT_ORDER:
        for d in result.devices:
            if d.verdict == verdict:
                b.components.add(component(d))
                b.vulnerabilities.update(vulnerabilities(d))
    return b


def render(result: ScanResult, note: str = "") -> str:
    """The CycloneDX 1.6 JSON document."""
    return JsonV1Dot6(bom(result, note)).output_as_string(indent=2) + "\n"
