"""Telling a person: which devices a run alerts on, the plain-text summary, and the notification channels.

A run alerts on the devices that make its exit status 1 (``--fail-on``): every flagged device with ``any``,
the devices flagged now and not in the previous stored scan with ``new`` (every flagged device when the
inventory holds no earlier scan), none with ``none``. The same devices go to the ``--quiet`` summary on stderr
(what cron mails) and to the notification channels (``[notify]`` in the config, :mod:`camscan.notify.send`).

Every device string passes through :func:`camscan.report.text.escape` before it reaches a line of text.
"""

from __future__ import annotations

from enum import StrEnum

from camscan.models import Device, ScanResult
from camscan.report.common import VERDICT_ORDER, maker_label, place
from camscan.report.text import escape
from camscan.serialize import to_dict


class FailOn(StrEnum):
    """When a scan exits 1 (and alerts): any flagged device, only newly flagged ones, never, or any flagged
    device and any device with known-exploited (CISA KEV) firmware."""

    ANY = "any"
    NEW = "new"
    NONE = "none"
    KEV = "kev"


def alerting(result: ScanResult, fail_on: FailOn = FailOn.ANY) -> list[Device]:
    """The devices this run alerts on per ``fail_on``, sanctioned first, scan order inside a verdict."""
    if fail_on is FailOn.NONE:
        return []
    if fail_on is FailOn.KEV:  # risks are information next to the verdict: they alert only when asked to
        return sorted((d for d in result.devices if d.verdict.flagged or d.risks),
                      key=lambda d: VERDICT_ORDER.index(d.verdict))
    if fail_on is FailOn.NEW and result.diff is not None:
        keys = set(result.diff.new_flagged)
        found = [d for d in result.flagged if d.key in keys]
    else:  # any, or no inventory to compare with: everything flagged is news
        found = list(result.flagged)
    return sorted(found, key=lambda d: VERDICT_ORDER.index(d.verdict))


def why(d: Device, limit: int = 200) -> str:
    """Why the device is flagged, in one phrase: each finding's summary (entity, evidence)."""
    text = " ".join(f.summary for f in d.findings) or str(d.verdict)
    return escape(text, limit)


def device_line(d: Device) -> str:
    """One line: verdict, IP (a camera behind a recorder: its address there and which recorder and channel), MAC,
    maker (as brand), model, why."""
    return "  ".join([str(d.verdict).upper(), escape(place(d), 120), escape(d.mac, 20) or "-",
                      escape(maker_label(d), 80), escape(d.model, 60) or "-", why(d)])


def headline(result: ScanResult, devices: list[Device], fail_on: FailOn) -> str:
    n = len(devices)
    what = "newly flagged" if fail_on is FailOn.NEW else "flagged"
    scan = f"scan #{result.scan_id}" if result.scan_id is not None else "scan"
    targets = escape(", ".join(result.targets), 200) or "attached subnets"
    return f"camscan: {n} device{'s' if n != 1 else ''} {what} ({scan} of {targets}):"


def summary(result: ScanResult, devices: list[Device], fail_on: FailOn) -> str:
    """The plain-text alert: a headline, then one line per device. Empty when there is nothing to alert on."""
    if not devices:
        return ""
    return "\n".join([headline(result, devices, fail_on), *("  " + device_line(d) for d in devices)]) + "\n"


def record(d: Device) -> dict:
    """A device as a notification carries it (``newly_flagged`` items in a webhook's JSON)."""
    entities = list(dict.fromkeys(f.entity for f in d.findings))
    lists = list(dict.fromkeys(c.name for f in d.findings for c in f.lists))
    return {"ip": d.ip, "mac": d.mac, "manufacturer": d.manufacturer, "brand": d.brand, "model": d.model,
            "firmware": d.firmware, "verdict": str(d.verdict), "entity": ", ".join(entities) or None,
            "lists": lists, "key": d.key, "why": " ".join(f.summary for f in d.findings),
            "via": to_dict(d.via) if d.via is not None else None}
