"""The cross-site report: the latest scan of every site in one inventory, led by a per-site summary.

``camscan report`` without ``--site`` on an inventory holding more than one site renders :func:`combine`'s
result: every site's devices (each carrying its ``site``), and ``sites``, one :class:`SiteSummary` per site
(devices, flagged, newly flagged, last scan). Every format leads with that summary (the pieces below); an
inventory of one site gives that site's latest scan exactly as before. Changes, skips and coverage belong to
one site's scan, so the cross-site report leaves them to ``camscan report --site NAME``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from camscan.models import ScanResult, SiteSummary
from camscan.report.text import escape

COLUMNS = ("site", "devices", "flagged", "new_flagged", "last_scan", "last_started")
NOTE = ("Cross-site report: the latest scan of each site. Changes since a site's previous scan, its skips and "
        "its coverage: camscan report --site NAME.")


def combine(latest: Iterable[tuple[str, ScanResult]]) -> ScanResult:
    """One result from each site's latest scan (``(site, result)`` in site order)."""
    latest = list(latest)
    if not latest:
        raise ValueError("no scans to combine")
    summaries, devices = [], []
    for site, r in latest:
        # a site's first scan counts every flagged device as new (its first cron run alerts on them)
        new = None if r.diff is None else len(r.flagged) if r.diff.previous_scan is None else len(r.diff.new_flagged)
        summaries.append(SiteSummary(site=site, scan_id=r.scan_id, started=r.started, devices=len(r.devices),
                                     flagged=len(r.flagged), new_flagged=new))
        devices += [dataclasses.replace(d, site=site) for d in r.devices]

    def union(values: Iterable[Iterable[str]]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v for vs in values for v in vs))

    return ScanResult(
        started=min(r.started for _, r in latest),
        finished=max(r.finished for _, r in latest),
        targets=union(r.targets for _, r in latest),
        interfaces=union(r.interfaces for _, r in latest),
        methods=union(r.methods for _, r in latest),
        devices=tuple(devices),
        skips=(),
        notes=(NOTE,),
        sites=tuple(summaries),
    )


def rows(result: ScanResult) -> list[list[str]]:
    """The summary as text cells (COLUMNS order), device strings cleaned; a total row last."""
    out = []
    for s in result.sites:
        out.append([escape(s.site, 63), str(s.devices), str(s.flagged),
                    "-" if s.new_flagged is None else str(s.new_flagged),
                    "-" if s.scan_id is None else f"#{s.scan_id}", f"{s.started:%Y-%m-%d %H:%M:%S %Z}".strip()])
    return out


def totals(result: ScanResult) -> tuple[int, int, int]:
    """(sites, devices, flagged) over the whole report."""
    return len(result.sites), sum(s.devices for s in result.sites), sum(s.flagged for s in result.sites)


def table_lines(result: ScanResult) -> list[str]:
    """The terminal report's lead when it covers several sites (nothing otherwise)."""
    if not result.sites:
        return []
    from tabulate import tabulate

    n, devices, flagged = totals(result)
    return [f"camscan: {n} sites, {devices} device(s), {flagged} flagged (each site's latest scan)",
            tabulate(rows(result), headers=["Site", "Devices", "Flagged", "New flagged", "Last scan", "Started"],
                     tablefmt="simple", disable_numparse=True), ""]
