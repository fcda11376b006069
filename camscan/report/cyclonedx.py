"""CycloneDX 1.6 JSON (an inventory BOM) for asset and vulnerability systems, built with cyclonedx-python-lib.

Each reported device is a component of type ``device``: ``manufacturer`` the maker camscan identified (the
brand it is sold as, when different, in ``camscan:brand``), ``name`` its model, ``version`` its firmware, and
the rest as ``camscan:`` properties: IP, MAC, serial, hostname, verdict, confidence, the manufacturer's basis,
device class, and for each finding the entity, the lists with dates, and the summary. ``bom-ref`` is the
inventory key (MAC, serial, endpoint id or IP), so the same device keeps its reference across scans. The
scan itself is the BOM's metadata (time, targets, the tool); the legal note is a BOM property.

Device strings pass through :func:`camscan.report.text.clean` (control and bidi characters shown as escapes);
the JSON encoder escapes the rest.
"""

from __future__ import annotations

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.output.json import JsonV1Dot6

from camscan import __version__
from camscan.models import Device, ScanResult
from camscan.report.common import VERDICT_ORDER
from camscan.report.text import clean

_LIMIT = 1000


def _props(pairs: list[tuple[str, object]]) -> list[Property]:
    return [Property(name=f"camscan:{name}", value=clean(value, _LIMIT)) for name, value in pairs
            if value not in (None, "")]


def component(d: Device) -> Component:
    pairs: list[tuple[str, object]] = [
        ("ip", d.ip), ("mac", d.mac), ("serial", d.serial), ("hostname", d.hostname), ("brand", d.brand),
        ("verdict", str(d.verdict)), ("confidence", f"{d.confidence:.2f}"),
        ("manufacturer_basis", d.manufacturer_basis), ("device_class", d.device_class),
        ("hardware_id", d.hardware_id), ("seen_by", ", ".join(d.seen_by)),
    ]
    for f in d.findings:
        lists = "; ".join(f"{c.name} (since {c.date})" if c.date else c.name for c in f.lists)
        pairs += [("finding.entity", f.entity_name), ("finding.verdict", str(f.verdict)),
                  ("finding.lists", lists), ("finding.summary", f.summary)]
        pairs += [("finding.citation_url", c.url) for c in f.lists if c.url]
    for w in d.warnings:
        pairs.append(("warning", w))
    maker = d.manufacturer or d.brand
    return Component(
        type=ComponentType.DEVICE,
        name=clean(d.model or maker or d.ip, _LIMIT),
        version=clean(d.firmware, _LIMIT) or None,
        manufacturer=OrganizationalEntity(name=clean(maker, _LIMIT)) if maker else None,
        bom_ref=clean(d.key, _LIMIT),
        properties=_props(pairs),
    )


def bom(result: ScanResult, note: str = "") -> Bom:
    b = Bom()
    b.metadata.timestamp = result.finished
    b.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="camscan",
                                              version=__version__))
    b.metadata.properties.update(_props([
        ("scan_id", result.scan_id), ("scan.start", result.started.isoformat()),
        ("targets", ", ".join(result.targets)), ("flagged", len(result.flagged)), ("legal_note", note)]))
    for verdict in VERDICT_ORDER:
        for d in result.devices:
            if d.verdict == verdict:
                b.components.add(component(d))
    return b


def render(result: ScanResult, note: str = "") -> str:
    """The CycloneDX 1.6 JSON document."""
    return JsonV1Dot6(bom(result, note)).output_as_string(indent=2) + "\n"
