"""Core values as plain JSON types and back: the one place both the JSON report and the inventory use.

:func:`to_dict` turns a value of :mod:`camscan.models` (a device, a finding, a piece of evidence, a coverage
row, a change, a diff, a skip) into a dict of JSON types; :func:`from_dict` is its exact inverse
(``to_dict(from_dict(cls, d)) == d`` for any dict ``to_dict`` wrote). :func:`report_dict` and
:func:`report_from_dict` do the same for a whole scan: the JSON report, ``schema_version`` 1.

The report is a contract: fields are added, never renamed or removed. Top-level keys, in order:
``schema_version``, ``scan_id`` (the inventory's id, or null), ``scan``, ``summary``, ``diff`` (what changed
since the previous stored scan; null when there was no inventory comparison), ``devices``, ``skips``,
``coverage``, ``notes``, ``legal_note``. ``diff`` comes before ``devices`` so a reader meets the changes first.
``scan_id``, ``diff`` and ``summary.new_flagged`` were added to version 1 without changing any earlier field,
as was each device's ``device_class`` (camera, recorder, encoder, network, radio or unknown; read as unknown
from documents that predate it), each device's ``risks`` (known-exploited vulnerabilities, :class:`Risk`) and
``via`` (a camera listed by a recorder and never contacted, :class:`Via`; null otherwise),
``summary.kev_risks`` (devices with at least one risk), and each device's ``manufacturer_basis`` (the
strongest kind of evidence behind ``manufacturer``: firmware, identity, medium or hint; null without a
manufacturer; derived from ``matches``, so it is written, never read).
Sites (issue 13) added, each only when it applies, so a report without sites reads byte for byte as before:
``scan.site`` (the site a stored scan is of), ``sites`` after ``summary`` (a report covering several sites:
each site's ``site``, ``scan_id``, ``started``, ``devices``, ``flagged`` and ``new_flagged``, from its latest
scan) and each device's ``site`` after ``key`` (in such a report).
The inventory stores this document per scan and each device's :func:`to_dict` record per sighting, so
``camscan report`` re-renders a stored scan in any format without the network.

Reading is strict about types and tolerant of additions: unknown keys are ignored (documents from later
additive revisions still load), a missing or mistyped field raises ``ValueError`` naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from camscan.models import (
    Change,
    ChangeKind,
    Coverage,
    CoverageStatus,
    Device,
    Diff,
    Evidence,
    Finding,
    ListCitation,
    Risk,
    RuleMatch,
    RuleStrength,
    ScanResult,
    SiteSummary,
    Skip,
    Verdict,
    Via,
)

SCHEMA_VERSION = 1  # of the JSON report
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ writing

def to_dict(value: Any) -> dict:
    """The JSON object for one core value (plain JSON types only). ``TypeError`` for any other type."""
    try:
        write = _WRITERS[type(value)]
    except KeyError:
        raise TypeError(f"camscan.serialize cannot write a {type(value).__name__}") from None
    return write(value)


def _evidence_dict(e: Evidence) -> dict:
    return {"source": e.source, "field": e.field, "value": e.value}


def _skip_dict(s: Skip) -> dict:
    return {"ip": s.ip, "stage": s.stage, "reason": s.reason}


def _match_dict(m: RuleMatch) -> dict:
    return {"rule": m.rule, "manufacturer": m.manufacturer, "strength": str(m.strength),
            "evidence": _evidence_dict(m.evidence), "note": m.note}


def _citation_dict(c: ListCitation) -> dict:
    return {"list": c.list_id, "name": c.name, "date": c.date, "citation": c.citation, "url": c.url,
            "scope": c.scope}


def _finding_dict(f: Finding) -> dict:
    return {
        "entity": f.entity,
        "entity_name": f.entity_name,
        "verdict": str(f.verdict),
        "summary": f.summary,
        "check": f.check or None,
        "lists": [_citation_dict(c) for c in f.lists],
        "evidence": [_match_dict(m) for m in f.evidence],
        "context": [_citation_dict(c) for c in f.context],
    }


def _device_dict(d: Device) -> dict:
    site = {"site": d.site} if d.site is not None else {}  # only in a report covering several sites
    return {
        "key": d.key,
        **site,
        "ip": d.ip,
        "mac": d.mac,
        "manufacturer": d.manufacturer,
        "brand": d.brand,
        "model": d.model,
        "firmware": d.firmware,
        "serial": d.serial,
        "hardware_id": d.hardware_id,
        "hostname": d.hostname,
        "endpoint": d.endpoint,
        "xaddrs": list(d.xaddrs),
        "verdict": str(d.verdict),
        "confidence": round(d.confidence, 2),
        "findings": [_finding_dict(f) for f in d.findings],
        "warnings": list(d.warnings),
        "device_class": d.device_class,
        "manufacturer_basis": d.manufacturer_basis,
        "matches": [_match_dict(m) for m in d.matches],
        "evidence": [_evidence_dict(e) for e in d.evidence],
        "seen_by": list(d.seen_by),
        "risks": [_risk_dict(r) for r in d.risks],
        "via": _via_dict(d.via) if d.via is not None else None,
    }


def _risk_dict(r: Risk) -> dict:
    return {"cve": r.cve, "kev_date_added": r.kev_date_added, "advisory": r.advisory,
            "advisory_url": r.advisory_url, "match": r.match, "why": r.why, "title": r.title}


def _via_dict(v: Via) -> dict:
    return {"recorder_ip": v.recorder_ip, "recorder_key": v.recorder_key, "channel": v.channel,
            "address": v.address, "protocol": v.protocol, "source": v.source}


def _coverage_dict(c: Coverage) -> dict:
    return {"subnet": c.subnet, "method": c.method, "status": str(c.status), "tried": c.tried,
            "answered": c.answered, "note": c.note or None}


def _change_dict(c: Change) -> dict:
    return {"kind": str(c.kind), "key": c.key, "ip": c.ip, "before": c.before, "after": c.after,
            "device": c.device}


def _diff_dict(d: Diff) -> dict:
    return {"previous_scan": d.previous_scan, "previous_started": d.previous_started,
            "new_flagged": list(d.new_flagged), "changes": [_change_dict(c) for c in d.changes]}


_WRITERS: dict[type, Callable[[Any], dict]] = {
    Evidence: _evidence_dict, Skip: _skip_dict, RuleMatch: _match_dict, ListCitation: _citation_dict,
    Finding: _finding_dict, Device: _device_dict, Coverage: _coverage_dict, Change: _change_dict,
    Diff: _diff_dict, Risk: _risk_dict, Via: _via_dict,
}


def _site_dict(s: SiteSummary) -> dict:
    return {"site": s.site, "scan_id": s.scan_id, "started": timestamp(s.started), "devices": s.devices,
            "flagged": s.flagged, "new_flagged": s.new_flagged}


def timestamp(dt: datetime) -> str:
    """A report timestamp: UTC, microseconds, ``Z``."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime(TS_FORMAT)


def report_dict(result: ScanResult, note: str = "") -> dict:
    """The schema_version 1 document for ``result`` (plain JSON types only)."""
    return report_document(result, note, [to_dict(d) for d in result.devices])


def report_document(result: ScanResult, note: str, devices: Iterable[dict]) -> dict:
    """The document with ``devices`` as given: a list for :func:`report_dict`, or a generator for the streamed
    report (``camscan.report.json.iterencode`` builds a device's dict only when its turn comes). One function,
    so both have the same keys in the same order."""
    diff = result.diff
    verdicts = [d.verdict for d in result.devices]
    site = {"site": result.site} if result.site is not None else {}  # a stored scan's site
    # a report covering several sites leads with each one's latest scan
    sites = {"sites": [_site_dict(s) for s in result.sites]} if result.sites else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "scan_id": result.scan_id,
        "scan": {
            "start": timestamp(result.started),
            "end": timestamp(result.finished),
            "targets": list(result.targets),
            "interfaces": list(result.interfaces),
            "methods": list(result.methods),
            **site,
        },
        "summary": {
            "devices": len(result.devices),
            "sanctioned": verdicts.count(Verdict.SANCTIONED),
            "review": verdicts.count(Verdict.REVIEW),
            "clear": verdicts.count(Verdict.CLEAR),
            "unknown": verdicts.count(Verdict.UNKNOWN),
            "skips": len(result.skips),
            # devices with a known-exploited (CISA KEV) vulnerability, exact or possible
            "kev_risks": sum(1 for d in result.devices if d.risks),
            # devices flagged now and not before; null when there was no comparison with a previous scan
            "new_flagged": len(diff.new_flagged) if diff is not None else None,
        },
        **sites,
        "diff": _diff_dict(diff) if diff is not None else None,
        "devices": devices,
        "skips": [_skip_dict(s) for s in result.skips],
        "coverage": [_coverage_dict(c) for c in result.coverage],
        "notes": list(result.notes),
        "legal_note": note,
    }


# ------------------------------------------------------------------------------------------------ reading

def from_dict(cls: type[T], data: Any) -> T:
    """The ``cls`` value :func:`to_dict` wrote as ``data``. ``ValueError`` (naming the field) when ``data`` is
    not such a dict; derived fields (a device's ``key``) are ignored."""
    try:
        read = _READERS[cls]
    except KeyError:
        raise TypeError(f"camscan.serialize cannot read a {cls.__name__}") from None
    return _reading(cls.__name__, read, data)


def report_from_dict(d: Any) -> ScanResult:
    """The :class:`ScanResult` a schema_version 1 document describes: the exact inverse of :func:`report_dict`.

    Derived fields (``summary``, each device's ``key``) and the ``legal_note`` are not part of the result and
    are ignored. Raises ``ValueError`` (naming the offending field) when ``d`` is not such a document.
    """
    if not isinstance(d, dict):
        raise ValueError("not a camscan JSON report: the top level is not an object")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(f"unsupported camscan report schema_version {version!r} (expected {SCHEMA_VERSION})")
    return _reading("report", _report, d)


def _reading(what: str, read: Callable[[Any], T], data: Any) -> T:
    try:
        return read(data)
    except KeyError as exc:
        raise ValueError(f"camscan {what} lacks the field {exc.args[0]!r}") from None
    except (TypeError, AttributeError) as exc:
        raise ValueError(f"camscan {what} has a field of the wrong type: {exc}") from None
    except ValueError as exc:  # a word outside its set (verdict, strength, status, kind), a bad timestamp
        raise ValueError(f"camscan {what}: {exc}") from None


def _report(d: dict) -> ScanResult:
    scan = d["scan"]
    return ScanResult(
        started=_parse_ts(scan["start"]),
        finished=_parse_ts(scan["end"]),
        targets=_strs(scan["targets"]),
        interfaces=_strs(scan["interfaces"]),
        methods=_strs(scan["methods"]),
        devices=tuple(_device(x) for x in d["devices"]),
        skips=tuple(_skip(x) for x in d["skips"]),
        coverage=tuple(_coverage(x) for x in d.get("coverage") or ()),
        notes=_strs(d.get("notes") or ()),
        diff=_diff(d["diff"]) if d.get("diff") is not None else None,
        scan_id=_opt_int(d.get("scan_id")),
        site=_opt(scan.get("site")),
        sites=tuple(_site_summary(x) for x in d.get("sites") or ()),
    )


def _site_summary(x: dict) -> SiteSummary:
    return SiteSummary(site=_str(x["site"]), scan_id=_opt_int(x["scan_id"]), started=_parse_ts(x["started"]),
                       devices=_opt_int(x["devices"]) or 0, flagged=_opt_int(x["flagged"]) or 0,
                       new_flagged=_opt_int(x["new_flagged"]))


def _parse_ts(text: Any) -> datetime:
    try:
        return datetime.strptime(_str(text), TS_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"bad timestamp {text!r} in camscan report (expected {TS_FORMAT})") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt(value: Any) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _strs(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list | tuple):
        raise TypeError(f"expected a list, got {type(values).__name__}")
    return tuple(_str(v) for v in values)


def _evidence(x: dict) -> Evidence:
    return Evidence(source=_str(x["source"]), field=_str(x["field"]), value=_str(x["value"]))


def _skip(x: dict) -> Skip:
    return Skip(ip=_opt(x["ip"]), stage=_str(x["stage"]), reason=_str(x["reason"]))


def _match(x: dict) -> RuleMatch:
    return RuleMatch(rule=_str(x["rule"]), manufacturer=_str(x["manufacturer"]),
                     strength=RuleStrength(_str(x["strength"])), evidence=_evidence(x["evidence"]),
                     note=_str(x.get("note") or ""))


def _citation(x: dict) -> ListCitation:
    return ListCitation(list_id=_str(x["list"]), name=_str(x["name"]), date=_str(x["date"]),
                        citation=_str(x["citation"]), url=_str(x.get("url") or ""),
                        scope=_str(x.get("scope") or ""))


def _finding(x: dict) -> Finding:
    return Finding(
        entity=_str(x["entity"]),
        entity_name=_str(x["entity_name"]),
        verdict=Verdict(_str(x["verdict"])),
        summary=_str(x["summary"]),
        check=_opt(x.get("check")) or "",
        lists=tuple(_citation(c) for c in x["lists"]),
        evidence=tuple(_match(m) for m in x["evidence"]),
        context=tuple(_citation(c) for c in x.get("context") or ()),
    )


def _device(x: dict) -> Device:
    confidence = x["confidence"]
    if not isinstance(confidence, int | float) or isinstance(confidence, bool):
        raise TypeError(f"expected a number for confidence, got {type(confidence).__name__}")
    return Device(
        ip=_str(x["ip"]),
        mac=_opt(x["mac"]),
        manufacturer=_opt(x["manufacturer"]),
        brand=_opt(x["brand"]),
        model=_opt(x["model"]),
        firmware=_opt(x["firmware"]),
        serial=_opt(x["serial"]),
        hardware_id=_opt(x["hardware_id"]),
        hostname=_opt(x["hostname"]),
        endpoint=_opt(x["endpoint"]),
        xaddrs=_strs(x["xaddrs"]),
        seen_by=_strs(x["seen_by"]),
        evidence=tuple(_evidence(e) for e in x["evidence"]),
        matches=tuple(_match(m) for m in x["matches"]),
        confidence=float(confidence),
        verdict=Verdict(_str(x["verdict"])),
        findings=tuple(_finding(f) for f in x["findings"]),
        warnings=_strs(x.get("warnings", [])),
        device_class=_str(x.get("device_class", "unknown")),
        risks=tuple(_risk(r) for r in x.get("risks") or ()),
        via=_via(x["via"]) if x.get("via") is not None else None,
        site=_opt(x.get("site")),
    )


def _risk(x: dict) -> Risk:
    return Risk(cve=_str(x["cve"]), kev_date_added=_str(x["kev_date_added"]), advisory=_str(x["advisory"]),
                advisory_url=_str(x.get("advisory_url") or ""), match=_str(x["match"]), why=_str(x["why"]),
                title=_str(x.get("title") or ""))


def _via(x: dict) -> Via:
    return Via(recorder_ip=_str(x["recorder_ip"]), recorder_key=_str(x["recorder_key"]),
               channel=_str(x["channel"]), address=_opt(x.get("address")), protocol=_str(x.get("protocol") or ""),
               source=_str(x.get("source") or ""))


def _coverage(x: dict) -> Coverage:
    return Coverage(subnet=_str(x["subnet"]), method=_str(x["method"]), status=CoverageStatus(_str(x["status"])),
                    tried=_opt_int(x["tried"]) or 0, answered=_opt_int(x["answered"]) or 0,
                    note=_opt(x.get("note")) or "")


def _change(c: dict) -> Change:
    return Change(kind=ChangeKind(_str(c["kind"])), key=_str(c["key"]), ip=_opt(c["ip"]), before=_opt(c["before"]),
                  after=_opt(c["after"]), device=_str(c.get("device") or ""))


def _diff(x: dict) -> Diff:
    return Diff(
        previous_scan=_opt_int(x["previous_scan"]),
        previous_started=_opt(x["previous_started"]),
        new_flagged=_strs(x["new_flagged"]),
        changes=tuple(_change(c) for c in x["changes"]),
    )


_READERS: dict[type, Callable[[Any], Any]] = {
    Evidence: _evidence, Skip: _skip, RuleMatch: _match, ListCitation: _citation, Finding: _finding,
    Device: _device, Coverage: _coverage, Change: _change, Diff: _diff, Risk: _risk, Via: _via,
}
