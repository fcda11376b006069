"""Terminal table report (tabulate). Every device string passes through :func:`clean`."""

from __future__ import annotations

from tabulate import tabulate

from camscan.models import ScanResult
from camscan.report.text import clean


def render(result: ScanResult, note: str = "") -> str:
    out: list[str] = []
    flagged = result.flagged
    out.append(f"camscan: {len(result.devices)} device(s), {len(flagged)} flagged, {len(result.skips)} skip(s) "
               f"- targets {', '.join(result.targets) or '-'} via {', '.join(result.interfaces) or 'unicast'}")
    out.append("")
    rows = [[clean(d.ip), clean(d.mac), clean(d.manufacturer, 30), clean(d.brand, 24), clean(d.model, 28),
             clean(d.firmware, 28), str(d.verdict).upper() if d.verdict.flagged else str(d.verdict),
             f"{d.confidence:.2f}"] for d in result.devices]
    if rows:
        out.append(tabulate(rows, headers=["IP", "MAC", "Manufacturer", "Brand", "Model", "Firmware", "Verdict",
                                           "Conf"], tablefmt="simple"))
    else:
        out.append("No devices found.")
    if flagged:
        out.append("")
        out.append("Findings:")
        for d in flagged:
            for f in d.findings:
                out.append(f"  {clean(d.ip)} [{f.verdict}] {clean(f.summary, 600)}")
                for c in f.lists:
                    cite = f", {c.citation}" if c.citation else ""
                    out.append(f"      - {clean(c.name)}: since {c.date}{clean(cite, 200)}")
                if f.check:
                    out.append(f"      check: {clean(f.check, 400)}")
    if result.skips:
        out.append("")
        out.append("Skips:")
        out.append(tabulate([[clean(s.ip) or "-", clean(s.stage), clean(s.reason, 160)] for s in result.skips],
                            headers=["IP", "Stage", "Reason"], tablefmt="simple"))
    if result.coverage:
        out.append("")
        out.append("Coverage:")
        out.append(tabulate([[clean(c.subnet), c.method, c.status, c.tried, c.answered, clean(c.note, 100)]
                             for c in result.coverage],
                            headers=["Subnet", "Method", "Status", "Tried", "Answered", "Note"], tablefmt="simple"))
    for n in result.notes:
        out.append(f"note: {clean(n, 300)}")
    if flagged and note:
        out.append("")
        out.append(f"Note: {note}")
    return "\n".join(out) + "\n"
