"""CSV report for spreadsheets: one row per device, UTF-8, RFC 4180 quoting (every cell quoted).

Columns: ``ip, mac, manufacturer, brand, model, firmware, serial, verdict, confidence, entities, lists,
evidence, seen_by, key, change, warnings, device_class, kev, via, scan_time, site, hostname, first_seen,
last_seen, verdict_reason, citation_urls`` (columns are only ever added at the end). A report covering several
sites leads with a ``site`` column instead (the rest in the same order).
``entities`` are the flagged entity names, ``lists`` the lists cited with their dates, ``evidence`` the
decisive rule notes with ``source:field=value``, ``change`` the device's change since the previous scan
(``new``, ``changed: ip, firmware``, ``newly flagged``; empty without a diff), ``kev`` the known-exploited
vulnerabilities (``CVE (exact|possible) advisory``), ``via`` set for a camera seen only behind a recorder
(``recorder_ip channel N address protocol``), ``scan_time`` when the scan started (UTC), ``site`` the scan's site
(empty without sites), ``first_seen``/``last_seen`` the device's first and last sighting in the inventory (empty
without one), ``verdict_reason`` why the verdict (the findings; for ``unknown``, what answered and what was
missing), ``citation_urls`` the cited lists' URLs. Devices seen in the previous scan and missing from this one
follow as rows with ``change`` = ``gone``, keeping their last known details (MAC, maker, model, firmware, verdict)
when the inventory has them. Mapping to CMDB imports: README.
Rows come in verdict order (sanctioned, review, clear, unknown), scan order
inside a verdict.

A device string is untrusted, and a spreadsheet runs any cell starting with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=cmd|' /C calc'!A0``). Following the OWASP CSV injection guidance every such cell, and any starting
with a tab or carriage return, or with such a character after leading spaces (non-breaking and zero-width
ones too), is prefixed with a single quote; control and bidi characters are shown as
``\\x..`` escapes first (:func:`camscan.report.text.escape`). There is no byte-order mark: spreadsheet
programs that need one should import the file as UTF-8.
"""

from __future__ import annotations

import csv
import io

from camscan.models import Change, ChangeKind, Device, ScanResult
from camscan.report import sites
from camscan.report.common import (
    VERDICT_ORDER,
    change_label,
    citation_urls,
    decisive,
    describe_match,
    entities,
    list_names,
    verdict_reason,
)
from camscan.report.text import escape
from camscan.serialize import timestamp

COLUMNS = ("ip", "mac", "manufacturer", "brand", "model", "firmware", "serial", "verdict", "confidence",
           "entities", "lists", "evidence", "seen_by", "key", "change", "warnings", "device_class", "kev", "via",
           "scan_time", "site", "hostname", "first_seen", "last_seen", "verdict_reason", "citation_urls")

# OWASP "CSV Injection": first characters that make a spreadsheet evaluate a cell, plus their full-width forms
# (some spreadsheet input methods fold U+FF1D etc. to ASCII).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_CELL_LIMIT = 2000  # long enough for any honest value, short of the 32767-character spreadsheet cell limit


# What a spreadsheet skips before it looks for a formula: " =1+1" and "\xa0=1+1" are formulas to some of them.
_LEADING_BLANKS = " \t\r\n\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b" \
    "\u200c\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"


def neutralise(value: object) -> str:
    """A safe spreadsheet cell: control characters escaped, a formula character at the start, or after leading
    blanks (spaces, non-breaking and zero-width spaces), defused with ``'``."""
    text = escape(value, _CELL_LIMIT)
    return "'" + text if text.lstrip(_LEADING_BLANKS).startswith(_FORMULA_START) else text


def _row(d: Device, result: ScanResult) -> list[str]:
    evidence = "; ".join(f"{what} [{where}]" for what, where in map(describe_match, decisive(d)))
    first, last = _seen(result, d.key)
    return [d.ip, d.mac or "", d.manufacturer or "", d.brand or "", d.model or "", d.firmware or "",
            d.serial or "", str(d.verdict), f"{d.confidence:.2f}", "; ".join(entities(d)),
            "; ".join(list_names(d)), evidence, ", ".join(d.seen_by), d.key, change_label(d, result.diff),
            "; ".join(d.warnings), d.device_class,
            "; ".join(f"{r.cve} ({r.match}) {r.advisory}" for r in d.risks),
            (f"{d.via.recorder_ip} channel {d.via.channel} {d.via.address or '-'} {d.via.protocol}".strip()
             if d.via else ""),
            timestamp(result.started), d.site or _site(result), d.hostname or "", first, last,
            verdict_reason(d, result), " ".join(citation_urls(d))]


def _site(result: ScanResult) -> str:
    return result.site or (result.history.site if result.history else None) or ""


def _seen(result: ScanResult, key: str) -> tuple[str, str]:
    seen = result.history.seen.get(key) if result.history else None
    return seen if seen else ("", "")


def _gone_row(c: Change, result: ScanResult) -> list[str]:
    cells = dict.fromkeys(COLUMNS, "")
    last = f"; last seen as {c.device}" if c.device else ""
    old = result.history.last_known.get(c.key, {}) if result.history else {}
    cells.update({k: old.get(k) or "" for k in ("mac", "manufacturer", "brand", "model", "firmware", "serial",
                                                 "verdict", "hostname", "device_class")})
    first, seen = _seen(result, c.key)
    cells.update(ip=c.ip or "", key=c.key, change="gone", evidence=f"not seen in this scan{last}",
                 scan_time=timestamp(result.started), site=_site(result), first_seen=first,
                 last_seen=seen, verdict_reason=f"not seen in this scan; last verdict {old.get('verdict') or '-'}")
    return [cells[k] for k in COLUMNS]


def render(result: ScanResult, note: str = "") -> str:
    """The CSV document (header row first, CRLF line ends). ``note`` is not part of a per-device sheet."""
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    several = bool(result.sites)
    if several:  # a report covering several sites: the per-site summary, a blank line, then the devices
        writer.writerow(sites.COLUMNS)
        writer.writerows([neutralise(v) for v in row] for row in sites.rows(result))
        buf.write("\r\n")
    # a report covering several sites leads each row with its site, and has no second ``site`` column
    keep = [i for i, c in enumerate(COLUMNS) if not (several and c == "site")]
    writer.writerow(("site", *(COLUMNS[i] for i in keep)) if several else COLUMNS)
    for verdict in VERDICT_ORDER:
        for d in result.devices:
            if d.verdict == verdict:
                row = _row(d, result)
                writer.writerow([neutralise(v) for v in ([d.site or ""] if several else []) + [row[i] for i in keep]])
    if result.diff is not None:
        for c in result.diff.of_kind(ChangeKind.GONE):
            writer.writerow([neutralise(v) for v in _gone_row(c, result)])
    return buf.getvalue()
