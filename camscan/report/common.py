"""What every report format shares: the order findings and changes are told in, and short device labels.

The reports lead with what changed: first devices flagged now and not before (sanctioned, then review), then
new and gone devices, then changed verdicts, makers, addresses and firmware. Returned strings are raw device
text; each format escapes them for its own medium.
"""

from __future__ import annotations

from camscan.models import Change, ChangeKind, Device, Diff, ListCitation, RuleMatch, ScanResult, Verdict

#: Verdicts from most to least urgent: the order of groups in every report.
VERDICT_ORDER: tuple[Verdict, ...] = (Verdict.SANCTIONED, Verdict.REVIEW, Verdict.CLEAR, Verdict.UNKNOWN)

#: Change kinds in the order a reader needs them; kinds not listed here follow, in the diff's order.
CHANGE_ORDER: tuple[ChangeKind, ...] = (ChangeKind.NEW, ChangeKind.GONE, ChangeKind.VERDICT, ChangeKind.MANUFACTURER,
                                        ChangeKind.MODEL, ChangeKind.IP, ChangeKind.FIRMWARE)


def counts(result: ScanResult) -> dict[Verdict, int]:
    """Number of devices per verdict, every verdict present (zero when none)."""
    out = dict.fromkeys(VERDICT_ORDER, 0)
    for d in result.devices:
        out[d.verdict] = out.get(d.verdict, 0) + 1
    return out


def by_verdict(result: ScanResult) -> list[tuple[Verdict, list[Device]]]:
    """Devices grouped by verdict in :data:`VERDICT_ORDER`, empty groups left out, scan order kept inside."""
    groups = [(v, [d for d in result.devices if d.verdict == v]) for v in VERDICT_ORDER]
    return [(v, ds) for v, ds in groups if ds]


def has_changes(diff: Diff | None) -> bool:
    """True when there is a previous scan to compare with and something differs from it."""
    return diff is not None and bool(diff.changes or diff.new_flagged)


def ordered_changes(diff: Diff | None) -> list[Change]:
    """The diff's changes in :data:`CHANGE_ORDER` (stable within a kind)."""
    if diff is None:
        return []
    rank = {kind: i for i, kind in enumerate(CHANGE_ORDER)}
    return sorted(diff.changes, key=lambda c: rank.get(c.kind, len(rank)))


def stored_time(text: str) -> str:
    """A stored timestamp (``2024-05-01T10:00:00.000000Z``) as the reports show times: to the second, UTC."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return when.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if when.utcoffset() is not None and
                                                  not when.utcoffset() else "")


def first_scan_note(result: ScanResult) -> str:
    """What a site's first stored scan says instead of changes: the site named when there is one (an inventory
    shared by sites holds other sites' scans, but none of this one's)."""
    site = result.site or (result.history.site if result.history else None)
    if site and site != "default":
        return (f"First scan of site {site} in the inventory: nothing to compare with (every flagged device "
                "counts as new).")
    return "First scan in the inventory: nothing to compare with."


def newly_flagged(result: ScanResult) -> list[Device]:
    """Devices flagged in this scan that were not flagged (or not present) before: sanctioned first."""
    if result.diff is None:
        return []
    keys = set(result.diff.new_flagged)
    found = [d for d in result.devices if d.key in keys and d.verdict.flagged]
    return sorted(found, key=lambda d: VERDICT_ORDER.index(d.verdict))


def changes_by_key(diff: Diff | None) -> dict[str, list[Change]]:
    """Each device key's changes, in :data:`CHANGE_ORDER`."""
    out: dict[str, list[Change]] = {}
    for c in ordered_changes(diff):
        out.setdefault(c.key, []).append(c)
    return out


def change_label(device: Device, diff: Diff | None) -> str:
    """One short phrase for a device's change since the previous scan: ``new``, ``changed: ip, firmware``,
    with ``newly flagged`` appended when it applies; empty when nothing changed or there is no diff."""
    if diff is None:
        return ""
    kinds = [c.kind for c in changes_by_key(diff).get(device.key, [])]
    parts: list[str] = []
    if ChangeKind.NEW in kinds:
        parts.append("new")
    other = list(dict.fromkeys(k for k in kinds if k is not ChangeKind.NEW))
    if other:
        parts.append("changed: " + ", ".join(other))
    if device.key in diff.new_flagged and device.verdict.flagged:
        parts.append("newly flagged")
    return "; ".join(parts)


def maker_label(device: Device) -> str:
    """Who made it, as a reader should take it: ``Hikvision``, ``Hikvision (as LTS)`` when relabelled, and a
    maker resting on hints alone (an OUI, an OEM brand; ``manufacturer_basis`` hint) shown as a hint:
    ``IPCAM (hint: Hikvision?)``, never as the manufacturer."""
    maker, brand = device.manufacturer, device.brand
    if not maker:
        return brand or "unknown maker"
    if device.manufacturer_basis == "hint" and device.matches:
        shown = brand if brand and brand.casefold() != maker.casefold() else "unconfirmed"
        return f"{shown} (hint: {maker}?)"
    if brand and not _same_maker(maker, brand):
        return f"{maker} (as {brand})"
    return maker


def _same_maker(maker: str, brand: str) -> bool:
    """``Milesight`` and ``Milesight Technology Co.,Ltd.``: the maker's own name (or its company name), not a
    relabel worth an ``(as ...)``."""
    m, b = maker.casefold().strip(), brand.casefold().strip()
    return b == m or (b.startswith(m) and not b[len(m):len(m) + 1].isalnum())


def device_label(device: Device) -> str:
    """Maker (see :func:`maker_label`) and model: ``Hikvision (as LTS) X1``."""
    maker = maker_label(device)
    return f"{maker} {device.model}" if device.model else maker


def place(device: Device) -> str:
    """Where a device is: its address, and for a camera seen behind a recorder, which recorder and channel
    (``192.168.254.2 behind recorder 198.51.100.23 channel 1``; the address may repeat behind other
    recorders, and an ONVIF recorder's video source has none)."""
    v = device.via
    if v is None:
        return device.ip
    return f"{device.ip + ' ' if device.ip else ''}behind recorder {v.recorder_ip} channel {v.channel}"


def _behind_reason(device: Device) -> str:
    """Why a camera seen only in a recorder's channel list is ``unknown``: what the recorder said of it."""
    v = device.via
    assert v is not None
    how = f" over {v.protocol}" if v.protocol else ""
    if v.source.startswith("onvif"):
        return (f"listed by recorder {v.recorder_ip} as ONVIF video source {v.channel} (never contacted): an ONVIF "
                "recorder lists its inputs without the cameras' maker, model or serial; check the camera itself "
                "on the recorder's own network or in the recorder's web interface")
    said = [f"{k} {val}" for k, val in (("model", device.model), ("serial", device.serial), ("MAC", device.mac))
            if val]
    text = (f"listed by recorder {v.recorder_ip} on channel {v.channel}{how} (never contacted); the recorder "
            f"reported {', '.join(said) if said else 'no model, serial or MAC for it'}")
    if said:
        text += "; no fingerprint rule names its maker from that"
    elif device.manufacturer:
        text += f"; only weak hints at {device.manufacturer} (confidence {device.confidence:.2f})"
    return text


def unknown_reason(device: Device, result: ScanResult) -> str:
    """Why a device is ``unknown``: what answered, what was asked and got nothing, and the skips on it (a camera
    seen behind a recorder: what the recorder said of it, since nothing asked the camera itself)."""
    if device.via is not None:
        return _behind_reason(device)
    sources = list(dict.fromkeys(e.source.split(".")[0] for e in device.evidence))
    tried = ", ".join(dict.fromkeys([*device.seen_by, *sources])) or "nothing answered"
    missing = []
    if not any(s.startswith("onvif") for s in sources):
        missing.append("no ONVIF device information (no ONVIF service, or it needs credentials)")
    if not any(s.startswith(("http", "tls")) for s in sources):
        missing.append("no web server or certificate banner")
    if not any(s in ("sadp", "dhip") for s in sources):
        missing.append("no vendor discovery reply (SADP, DHIP)")
    if not device.matches:
        missing.append("no fingerprint rule matched what it sent")
    elif device.manufacturer:
        missing.append(f"only weak hints at {device.manufacturer} (confidence {device.confidence:.2f})")
    skips = [f"{s.stage}: {s.reason}" for s in result.skips if s.ip == device.ip]
    text = f"answered: {tried}; missing: {'; '.join(missing) or 'nothing'}"
    return text + (f"; skipped: {'; '.join(skips)}" if skips else "")


def verdict_reason(device: Device, result: ScanResult) -> str:
    """The verdict in one sentence: the findings' summaries, what identified a clear device, or what an
    unknown device lacked."""
    if device.findings:
        return " ".join(f.summary for f in device.findings)
    if device.verdict is Verdict.UNKNOWN:
        return unknown_reason(device, result)
    basis = device.manufacturer_basis
    return f"identified as {device.manufacturer or 'an unlisted maker'}" + (f" ({basis} evidence)" if basis else "")


def list_dates(result: ScanResult) -> dict[str, str]:
    """Per cited list, the dates its entries carry, earliest first (a list adds makers on different dates: each
    finding shows its own; the appendix all of them)."""
    out: dict[str, set[str]] = {}
    for d in result.devices:
        for f in d.findings:
            for c in f.lists:
                if c.date:
                    out.setdefault(c.list_id, set()).add(c.date)
    return {k: ", ".join(sorted(v)) for k, v in out.items()}


def cited_lists(result: ScanResult) -> list[ListCitation]:
    """Every list any finding cites, once each (by list id), in the order first cited."""
    out: dict[str, ListCitation] = {}
    for d in result.devices:
        for f in d.findings:
            for c in f.lists:
                out.setdefault(c.list_id, c)
    return list(out.values())


def citation_urls(device: Device) -> list[str]:
    """The distinct citation URLs of the lists the device's findings cite."""
    return list(dict.fromkeys(c.url for f in device.findings for c in f.lists if c.url))


def decisive(device: Device) -> list[RuleMatch]:
    """The rule matches that decided the verdict: the findings' evidence when flagged, else all matches."""
    if device.findings:
        seen: dict[RuleMatch, None] = {}
        for f in device.findings:
            seen.update(dict.fromkeys(f.evidence))
        return list(seen)
    return list(device.matches)


def describe_match(m: RuleMatch) -> tuple[str, str]:
    """``(what, where)`` for one rule match: its note (or rule id) and ``source:field=value``."""
    return (m.note or m.rule, f"{m.evidence.source}:{m.evidence.field}={m.evidence.value}")


def list_names(device: Device) -> list[str]:
    """Each distinct list the device's findings cite, as ``name (since date)``."""
    out: dict[str, None] = {}
    for f in device.findings:
        for c in f.lists:
            out[f"{c.name} (since {c.date})" if c.date else c.name] = None
    return list(out)


def entities(device: Device) -> list[str]:
    """Distinct entity names of the device's findings."""
    return list(dict.fromkeys(f.entity_name for f in device.findings))



def risk_summary(device: Device) -> str:
    """The device's known-exploited vulnerabilities in a few words: ``CVE-2021-36260 (possible)``; empty
    when it has none."""
    return ", ".join(f"{r.cve}" + ("" if r.match == "exact" else f" ({r.match})") for r in device.risks)


def risk_count(result: ScanResult) -> int:
    """Devices with at least one known-exploited vulnerability (exact or possible)."""
    return sum(1 for d in result.devices if d.risks)


def behind_recorders(devices: list[Device] | tuple[Device, ...]) -> dict[str, list[Device]]:
    """Recorder key -> the cameras it lists (in channel order), for recorders that are in ``devices``."""
    keys = {d.key for d in devices if d.via is None}
    children: dict[str, list[Device]] = {}
    for d in devices:
        if d.via is not None and d.via.recorder_key in keys:
            children.setdefault(d.via.recorder_key, []).append(d)
    for cams in children.values():
        cams.sort(key=lambda c: _channel_order(c.via.channel if c.via else ""))
    return children


def grouped(devices: list[Device] | tuple[Device, ...]) -> list[tuple[Device, bool]]:
    """``devices`` in their order, each camera seen behind a recorder moved right after that recorder (in
    channel order) as ``(device, True)``; a camera whose recorder is not in the list stays where it was."""
    children = behind_recorders(devices)
    out: list[tuple[Device, bool]] = []
    for d in devices:
        if d.via is not None and d.via.recorder_key in children:
            continue
        out.append((d, d.via is not None))
        out += [(c, True) for c in children.get(d.key, [])]
    return out


def _channel_order(channel: str) -> tuple[int, str]:
    digits = "".join(ch for ch in channel if ch.isdigit())
    return (int(digits[:9]) if digits else 1 << 30, channel)
