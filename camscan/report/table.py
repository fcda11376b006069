"""Terminal table report (tabulate). Every device string passes through :func:`clean`.

Layout, most urgent first: a summary line; devices newly flagged since the previous scan and the other
changes (when the inventory found any); the device table (about 120 columns for ordinary values: long
strings are shortened, the JSON and HTML reports keep them whole); findings; skips; coverage; notes.
"""

from __future__ import annotations

import textwrap

from tabulate import tabulate

from camscan.models import Device, ScanResult, Verdict
from camscan.report import sites
from camscan.report.common import (
    VERDICT_ORDER,
    cited_lists,
    counts,
    device_label,
    first_scan_note,
    grouped,
    has_changes,
    list_dates,
    maker_label,
    newly_flagged,
    ordered_changes,
    place,
    risk_count,
    stored_time,
    unknown_reason,
)
from camscan.report.text import escape

WIDTH = 110  # wrap prose here so a report fits a 120-column terminal with its indents


def _wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False) or [indent.rstrip()]


def _table(rows: list[list], headers: list[str], widths: list[int | None]) -> str:
    """A tabulate table whose long cells wrap inside their column (``widths``) instead of being cut."""
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True, maxcolwidths=widths)


def _verdict(d: Device) -> str:
    return str(d.verdict).upper() if d.verdict.flagged else str(d.verdict)


def _header(result: ScanResult) -> list[str]:
    n = counts(result)
    per = ", ".join(f"{n[v]} {v}" for v in VERDICT_ORDER if n[v])
    # a cross-site report spans several scans: no one duration (each site's scan: camscan report --site)
    took = "" if result.sites else f" ({(result.finished - result.started).total_seconds():.1f} s)"
    scan = f"scan #{result.scan_id} " if result.scan_id is not None else "scan "
    return [
        f"camscan: {len(result.devices)} device(s) ({per or 'none'}), {len(result.flagged)} flagged, "
        f"{len(result.skips)} skip(s)" + (f", {risk_count(result)} with known-exploited firmware (KEV)"
                                          if risk_count(result) else ""),
        escape(f"{scan}{result.started:%Y-%m-%d %H:%M:%S %Z}".rstrip() + f"{took} - targets "
              f"{', '.join(result.targets) or '-'} via {', '.join(result.interfaces) or 'unicast'} - methods "
              f"{', '.join(result.methods) or '-'}", 400),
    ]


def _changes(result: ScanResult) -> list[str]:
    diff = result.diff
    if diff is None:
        return []
    if diff.previous_scan is None:
        return ["", escape(first_scan_note(result), 200)]
    when = f" ({escape(stored_time(diff.previous_started), 40)})" if diff.previous_started else ""
    since = f"scan #{diff.previous_scan}{when}"
    if not has_changes(diff):
        return ["", f"No changes since {since}."]
    out: list[str] = []
    fresh = newly_flagged(result)
    if fresh:
        out += ["", f"NEWLY FLAGGED since {since}:"]
        for d in fresh:
            who = "; ".join(dict.fromkeys(f.entity_name for f in d.findings)) or "-"
            out += _wrap(f"{_verdict(d):<10}  {escape(place(d), 120):<15}  {escape(device_label(d), 60)}: "
                         f"{escape(who, 200)}", "  ")
    changes = ordered_changes(diff)
    if changes:
        out += ["", f"Changes since {since}:"]
        rows = [[c.kind, escape(c.ip, 40) or "-", escape(c.device, 200) or escape(c.key, 200),
                 escape(c.before, 200), escape(c.after, 200)] for c in changes]
        out.append(_table(rows, ["Change", "IP", "Device", "Before", "After"], [None, 18, 36, 24, 24]))
    return out


def _findings(result: ScanResult, refs: dict[str, int]) -> list[str]:
    out = ["", "Findings (lists: see 'Lists cited' at the end):"]
    for d in sorted(result.flagged, key=lambda d: VERDICT_ORDER.index(d.verdict)):
        title = f"{_verdict(d)} {escape(place(d), 120)} {escape(device_label(d), 80)} [{escape(d.key, 60)}]"
        out += _wrap(title, "  ")
        for f in d.findings:
            out += _wrap(f"{escape(f.entity_name, 120)} ({f.verdict}): {escape(f.summary, 600)}", "    ")
            if f.lists:  # the lists by reference: their names, dates and citations once, in the appendix
                on = dict.fromkeys(f"[{refs[c.list_id]}]" + (f" since {escape(c.date, 20)}" if c.date else "")
                                   for c in f.lists)
                out += _wrap("on lists " + ", ".join(on), "    ")
            if f.check:
                out += _wrap(f"check: {escape(f.check, 400)}", "    ")
    return out


def _appendix(result: ScanResult, refs: dict[str, int], note: str) -> list[str]:
    """Each cited list once, with its date, citation and URL, then the legal note."""
    out = ["", "Lists cited:"]
    dates = list_dates(result)
    for c in cited_lists(result):
        cite = f"; {c.citation}" if c.citation else ""
        url = f"; {c.url}" if c.url else ""
        scope = f"; scope: {c.scope}" if c.scope else ""
        out += _wrap(f"[{refs[c.list_id]}] {escape(c.name, 300)}: since {escape(dates.get(c.list_id, c.date), 200)}"
                     f"{escape(cite, 1000)}"
                     f"{escape(url, 500)}{escape(scope, 1000)}", "  ")
    if note:
        out += [""] + _wrap(f"Note: {escape(note, 600)}", "")
    return out


def _unknown(result: ScanResult) -> list[str]:
    unknown = [d for d in result.devices if d.verdict is Verdict.UNKNOWN]
    if not unknown:
        return []
    out = ["", "Unknown devices (what was tried, what is missing):"]
    for d in unknown:
        out += _wrap(f"{escape(place(d), 120)} {escape(device_label(d), 80)}: {escape(unknown_reason(d, result), 900)}",
                     "  ")
    return out


def _risks(result: ScanResult) -> list[str]:
    out = ["", "Known-exploited vulnerabilities (CISA KEV; information only, the verdict is unchanged):"]
    for d in result.devices:
        if not d.risks:
            continue
        out += _wrap(f"{escape(place(d), 120)} {escape(device_label(d), 80)} [{escape(d.key, 60)}]", "  ")
        for r in d.risks:
            out += _wrap(f"{r.cve} ({r.match}), in KEV since {r.kev_date_added}: {escape(r.title, 120)}", "    ")
            url = escape(r.advisory_url, 300)
            line = f"      advisory {escape(r.advisory, 40)} {url}"
            # a URL is never broken across lines (a reader copies it): too long for the line, it gets its own
            out += [line] if len(line) <= WIDTH else [line[: -len(url) - 1], f"        {url}"]
            out += _wrap(f"why: {escape(r.why, 600)}", "      ")
    return out


def _ip_cell(d: Device, child: bool) -> str:
    if not child or d.via is None:
        return escape(d.ip, 15)
    # a camera behind the recorder above: its address there, or the channel when the recorder gave none (the
    # end of a long channel token, where ONVIF recorders number their sources: VideoSource_1, _2...)
    if d.ip:
        return f"`-{escape(d.ip, 15)}"
    channel = escape(d.via.channel, 200)
    return "`-ch " + (channel if len(channel) <= 13 else "..." + channel[-10:])


def _kev_cell(d: Device) -> str:
    if not d.risks:
        return ""
    return str(len(d.risks)) + ("" if any(r.match == "exact" for r in d.risks) else "?")


def render(result: ScanResult, note: str = "") -> str:
    """The terminal report; every line ends in a newline and no device control character reaches it."""
    out = sites.table_lines(result) + _header(result)  # a report covering several sites leads with them
    out += _changes(result)
    out.append("")
    # cameras seen behind a recorder follow it, indented, whatever their own verdict; a KEV column (count of
    # known-exploited vulnerabilities, "?" when only possible) only when a device has one, details below
    devices = grouped(sorted(result.devices, key=lambda d: VERDICT_ORDER.index(d.verdict)))
    kev = risk_count(result) > 0
    fw = 16 if kev else 20
    rows = [[_ip_cell(d, child), escape(d.mac, 40), d.device_class, escape(maker_label(d), 200),
             escape(d.model, 200), escape(d.firmware, 200), _verdict(d), f"{d.confidence:.2f}"]
            + ([_kev_cell(d)] if kev else []) for d, child in devices]
    headers = ["IP", "MAC", "Class", "Manufacturer", "Model", "Firmware", "Verdict", "Conf"] + (["KEV"] if kev else [])
    widths: list[int | None] = [None, 17, None, 18 if kev else 20, 16 if kev else 18, fw, None, None] + (
        [None] if kev else [])  # about 120 columns with the KEV column too
    if result.sites:  # a report covering several sites: which one each device is on
        rows, headers = [[escape(d.site, 16), *r] for (d, _), r in zip(devices, rows, strict=True)], ["Site", *headers]
        widths = [16, *widths]
    if rows:
        out.append(_table(rows, headers, widths))
    else:
        out.append("No devices found.")
    refs = {c.list_id: i for i, c in enumerate(cited_lists(result), 1)}
    if result.flagged:
        out += _findings(result, refs)
    out += _unknown(result)
    if risk_count(result):
        out += _risks(result)
    warned = [d for d in result.devices if d.warnings]
    if warned:
        out += ["", "Warnings:"]
        for d in warned:
            for w in d.warnings:
                out += _wrap(f"{escape(place(d), 120)} {escape(device_label(d), 80)}: {escape(w, 300)}", "  ")
    if result.skips:
        out += ["", "Skips:"]
        out.append(_table([[escape(s.ip, 40) or "-", escape(s.stage, 40), escape(s.reason, 600)]
                           for s in result.skips], ["IP", "Stage", "Reason"], [18, 12, 80]))
    if result.coverage:
        out += ["", "Coverage:"]
        rows = [[escape(c.subnet, 40), escape(c.method, 40), escape(c.status, 10), c.tried, c.answered,
                 escape(c.note, 40)] for c in result.coverage]
        out.append(tabulate(rows, headers=["Subnet", "Method", "Status", "Tried", "Answered", "Note"],
                            tablefmt="simple", maxcolwidths=[20, 16, None, None, None, None]))
        # What could not be looked at matters more than any count: say it in full, not in a cut cell.
        for c in result.coverage:
            if c.status != "done" and c.note:
                out += _wrap(f"{escape(c.subnet, 20)} {escape(c.method, 16)} {c.status}: {escape(c.note, 300)}", "  ")
    for n in result.notes:
        out += _wrap(f"note: {escape(n, 300)}", "")
    if result.flagged:
        out += _appendix(result, refs, note)
    return "\n".join(out) + "\n"
