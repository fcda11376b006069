"""The storage interface every inventory backend implements, and the part they share: the queries.

Both backends hold the same tables (``scans``, ``sightings``, ``devices``, ``addresses``, each with the site
it belongs to) and run the same SQL, written with ``?`` placeholders; a backend supplies the connection, the
transaction, the schema migrations and the run lock. So SQLite and PostgreSQL mean the same thing:

- one transaction per scan: the previous scan of the site is read, the diff computed, the scan and its
  sightings written and retention applied together, so a killed run leaves the inventory as it was, and two
  runs for one site cannot both diff against the same previous scan (PostgreSQL takes a per-site lock
  inside the transaction as well);
- device keys, diffs and retention are per site: ``ip:198.51.100.7`` on one site is not that device on another;
- a scan's full JSON report is kept, so ``camscan report`` re-renders any stored scan without the network.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from camscan import serialize
from camscan.models import Change, ChangeKind, Device, Diff, ScanHistory, ScanResult, ScanSummary, Skip, Verdict

SCHEMA_VERSION = 2  # 2: every scan, device and address belongs to a site (version 1 scans are site 'default')

_TS = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class ScanRow:
    id: int
    site: str
    started: str
    finished: str
    targets: list[str]
    devices: int
    flagged: int


@dataclass(frozen=True)
class SiteRow:
    """One site's summary: its latest scan (id, start, devices, flagged) and how many scans are kept."""

    site: str
    last_scan: int
    last_started: str
    devices: int
    flagged: int
    scans: int


class Store(ABC):
    """An open inventory (use as a context manager). Subclasses: ``SQLiteStore``, ``PostgresStore``."""

    location: str  # printable, password-free

    # ----------------------------------------------------------------------------------- backend parts
    @abstractmethod
    def _transaction(self, site: str | None = None) -> AbstractContextManager[Any]:
        """A write transaction; yields a cursor-like object with ``execute(sql, params)`` and
        ``executemany(sql, rows)``. With ``site``, writers of that site are serialised for the length of the
        transaction."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a read-only statement (``?`` placeholders)."""

    @abstractmethod
    def schema_version(self) -> int:
        """The schema version stored in the database (0: empty)."""

    @abstractmethod
    def upgrade(self) -> tuple[int, int]:
        """Migrate to :data:`SCHEMA_VERSION`; returns (version before, version after)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------- reads
    def scans(self, site: str | None = None, limit: int | None = None) -> list[ScanRow]:
        """Stored scans, newest first (of one site, or of all)."""
        q = "SELECT id, site, started, finished, targets, devices, flagged FROM scans"
        params: list[Any] = []
        if site is not None:
            q += " WHERE site = ?"
            params.append(site)
        q += " ORDER BY id DESC"
        if limit:
            q += " LIMIT ?"
            params.append(int(limit))
        return [ScanRow(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in self._query(q, params)]

    def sites(self, site: str | None = None) -> list[SiteRow]:
        """Each site's latest scan, by site name."""
        return [SiteRow(*r) for r in self._latest("s.site, s.id, s.started, s.devices, s.flagged, c.n", site)]

    def _latest(self, columns: str, site: str | None) -> list[tuple]:
        """``columns`` of each site's latest scan ``s`` (``c.n``: how many scans the site has), by site name."""
        q = (f"SELECT {columns} FROM scans s JOIN (SELECT site, max(id) AS last, count(*) AS n FROM scans "
             "GROUP BY site) c ON s.id = c.last")
        params: list[Any] = []
        if site is not None:
            q += " WHERE s.site = ?"
            params.append(site)
        return self._query(q + " ORDER BY s.site", params)

    def report(self, scan_id: int | None = None, site: str | None = None) -> tuple[int, str, dict] | None:
        """(id, site, JSON report) of a stored scan: ``scan_id``, else the latest (of ``site``), or None."""
        if scan_id is not None:
            q, params = "SELECT id, site, report FROM scans WHERE id = ?", [scan_id]
            if site is not None:
                q, params = q + " AND site = ?", [scan_id, site]
        elif site is not None:
            q, params = "SELECT id, site, report FROM scans WHERE site = ? ORDER BY id DESC LIMIT 1", [site]
        else:
            q, params = "SELECT id, site, report FROM scans ORDER BY id DESC LIMIT 1", []
        rows = self._query(q, params)
        return (rows[0][0], rows[0][1], json.loads(rows[0][2])) if rows else None

    def latest_reports(self, site: str | None = None) -> list[tuple[int, str, dict]]:
        """(id, site, JSON report) of each site's latest scan, by site name."""
        return [(r[0], r[1], json.loads(r[2])) for r in self._latest("s.id, s.site, s.report", site)]

    def previous_id(self, scan_id: int) -> int | None:
        """The scan of the same site before ``scan_id`` (None: it is the site's first, or no such scan)."""
        rows = self._query("SELECT max(p.id) FROM scans p JOIN scans s ON s.site = p.site "
                           "WHERE s.id = ? AND p.id < s.id", [scan_id])
        return rows[0][0] if rows else None

    def sightings(self, scan_id: int) -> dict[str, dict]:
        rows = self._query("SELECT key, record FROM sightings WHERE scan_id = ?", [scan_id])
        return {k: json.loads(r) for k, r in rows}

    def device_history(self, site: str, key: str) -> list[tuple[int, dict]]:
        rows = self._query("SELECT g.scan_id, g.record FROM sightings g JOIN scans s ON s.id = g.scan_id "
                           "WHERE s.site = ? AND g.key = ? ORDER BY g.scan_id", [site, key])
        return [(s, json.loads(r)) for s, r in rows]

    def addresses(self, site: str, key: str) -> list[str]:
        rows = self._query("SELECT ip FROM addresses WHERE site = ? AND key = ? ORDER BY first_seen, ip",
                           [site, key])
        return [r[0] for r in rows]

    def history(self, scan_id: int, gone: Sequence[str] = (), limit: int = 60) -> ScanHistory:
        """What a report of stored scan ``scan_id`` adds from the inventory: the site's last ``limit`` scans up
        to it (oldest first, for the HTML chart), first/last seen of the site's devices, the last stored record
        before it of each ``gone`` key (a gone row keeps its details), and the site's name."""
        site_row = self._query("SELECT site FROM scans WHERE id = ?", [scan_id])
        if not site_row:
            return ScanHistory()
        site = site_row[0][0]
        rows = self._query("SELECT id, started, devices, flagged FROM scans WHERE site = ? AND id <= ? "
                           "ORDER BY id DESC LIMIT ?", [site, scan_id, int(limit)])
        seen = {k: (f, last) for k, f, last in
                self._query("SELECT key, first_seen, last_seen FROM devices WHERE site = ?", [site])}
        last_known = {}
        for key in gone:
            found = self._query("SELECT g.record FROM sightings g JOIN scans s ON s.id = g.scan_id WHERE "
                                "s.site = ? AND g.key = ? AND g.scan_id < ? ORDER BY g.scan_id DESC LIMIT 1",
                                [site, key, scan_id])
            if found:
                last_known[key] = json.loads(found[0][0])
        return ScanHistory(scans=tuple(ScanSummary(*r) for r in reversed(rows)), seen=seen,
                           last_known=last_known, site=site)

    def diff_against_latest(self, result: ScanResult, site: str) -> Diff:
        """What changed between the site's latest stored scan and ``result`` (not stored)."""
        rows = self._query("SELECT id, started FROM scans WHERE site = ? ORDER BY id DESC LIMIT 1", [site])
        if not rows:
            return Diff(previous_scan=None, previous_started=None)
        return diff(self.sightings(rows[0][0]), result.devices, previous_scan=rows[0][0],
                    previous_started=rows[0][1], targets=result.targets, skips=result.skips)

    # --------------------------------------------------------------------------------------------- writes
    def record(self, result: ScanResult, site: str, note: str = "", keep: int | None = None,
               before_commit: Callable[[ScanResult], object] | None = None) -> ScanResult:
        """Store a scan of ``site`` in one transaction, with its diff against the site's previous scan; keep only
        the site's newest ``keep`` scans. The scan's JSON report (with its new id, its diff and ``note`` as the
        ``legal_note``) and each device's record are written through :mod:`camscan.serialize`, so ``camscan
        report`` reads back what the JSON report said. On the site's first scan every flagged device is newly
        flagged (a first cron run alerts). ``before_commit(result)`` runs last inside the transaction (the CLI
        writes the report there): if it raises, the scan is not stored, so its findings still count as new
        next time. Returns the result with its id, diff and site."""
        started = result.started.strftime(_TS)
        with self._transaction(site) as cur:
            prev = cur.execute("SELECT id, started FROM scans WHERE site = ? ORDER BY id DESC LIMIT 1",
                               [site]).fetchone()
            if prev is None:
                changes = Diff(previous_scan=None, previous_started=None,
                               new_flagged=tuple(dict.fromkeys(d.key for d in result.flagged)))
            else:
                rows = cur.execute("SELECT key, record FROM sightings WHERE scan_id = ?", [prev[0]]).fetchall()
                changes = diff({k: json.loads(r) for k, r in rows}, result.devices, previous_scan=prev[0],
                               previous_started=prev[1], targets=result.targets, skips=result.skips)
            scan_id = cur.execute(
                "INSERT INTO scans (site, started, finished, targets, devices, flagged, report) "
                "VALUES (?, ?, ?, ?, ?, ?, '{}') RETURNING id",
                [site, started, result.finished.strftime(_TS), json.dumps(list(result.targets)),
                 len(result.devices), len(result.flagged)]).fetchone()[0]
            # one row per key (the last device of a key wins, as it did with INSERT OR REPLACE), in key order so
            # concurrent writers of different sites touch rows in the same order; each table in one executemany
            # (psycopg pipelines it: a central database far away costs a few round trips, not three per device)
            rows = sorted({d.key: d for d in result.devices}.items())
            cur.executemany("INSERT INTO sightings (scan_id, key, ip, mac, manufacturer, brand, model, firmware, "
                            "verdict, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [[scan_id, key, d.ip, d.mac, d.manufacturer, d.brand, d.model, d.firmware,
                              str(d.verdict), json.dumps(serialize.to_dict(d))] for key, d in rows])
            cur.executemany("INSERT INTO devices (site, key, first_seen, last_seen, first_scan, last_scan) "
                            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, key) DO UPDATE SET "
                            "last_seen = excluded.last_seen, last_scan = excluded.last_scan",
                            [[site, key, started, started, scan_id, scan_id] for key, _d in rows])
            cur.executemany("INSERT INTO addresses (site, key, ip, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                            "ON CONFLICT (site, key, ip) DO UPDATE SET last_seen = excluded.last_seen",
                            [[site, key, d.ip, started, started] for key, d in rows])
            result = dataclasses.replace(result, diff=changes, scan_id=scan_id, site=site)
            cur.execute("UPDATE scans SET report = ? WHERE id = ?",
                        [json.dumps(serialize.report_dict(result, note)), scan_id])
            if keep:
                cur.execute("DELETE FROM scans WHERE site = ? AND id NOT IN "
                            "(SELECT id FROM scans WHERE site = ? ORDER BY id DESC LIMIT ?)", [site, site, int(keep)])
            if before_commit is not None:
                before_commit(result)
        return result


def _flagged(rec: dict) -> bool:
    """Whether a stored device record's verdict is a flagged one (a record from an unknown version: no)."""
    try:
        return Verdict(rec.get("verdict")).flagged
    except ValueError:
        return False


def _label(rec: dict) -> str:
    parts = [rec.get("manufacturer") or rec.get("brand") or "?", rec.get("model") or ""]
    via = rec.get("via")  # a camera seen behind a recorder: say which, so the diff shows where it changed
    if isinstance(via, dict) and via.get("recorder_ip"):
        parts.append(f"behind recorder {via['recorder_ip']} channel {via.get('channel')}")
    return " ".join(str(p) for p in parts if p)


def _scope(targets: Sequence[str]) -> list:
    """The networks a scan's targets cover; empty (everything counts as looked for) when one does not parse."""
    import ipaddress

    from camscan.net import parse_target

    nets: list[ipaddress.IPv4Network] = []
    for t in targets:
        try:
            nets += parse_target(t)
        except Exception:  # noqa: BLE001 - a replay's or an old scan's targets: no narrowing then
            return []
    return nets


def _looked_for(old: dict, scope: list) -> bool:
    """Was a device of the previous scan looked for by this one? Not when this scan's targets leave out its
    IPv4 address (a narrower scan of the site); a camera seen behind a recorder (see :func:`_recorder_asked`),
    or not on IPv4, always was."""
    import ipaddress

    if not scope or old.get("via"):
        return True
    try:
        addr = ipaddress.ip_address(str(old.get("ip") or ""))
    except ValueError:
        return True
    return addr.version != 4 or any(addr in n for n in scope)


def _recorder_asked(old: dict, current: dict[str, Device], previous: dict[str, dict], scope: list,
                    unasked: Set[str]) -> bool:
    """Was the recorder that listed a camera of the previous scan asked for its cameras again? When it is in
    this scan: only if its camera list was read (no ``recorder`` skip on it: no credentials, refused, timed out),
    else its cameras were not looked for and are not ``gone``. When it is not: its cameras go with it, if this
    scan looked for it."""
    via = old.get("via")
    if not isinstance(via, dict):
        return True
    key = str(via.get("recorder_key") or "")
    recorder = current.get(key)
    if recorder is not None:
        return recorder.ip not in unasked
    before = previous.get(key)
    return before is None or _looked_for(before, scope)


def diff(previous: dict[str, dict], devices: tuple[Device, ...] | list[Device], previous_scan: int | None = None,
         previous_started: str | None = None, targets: Sequence[str] = (), skips: Sequence[Skip] = ()) -> Diff:
    """Changes from the previous scan's device records (key -> JSON record) to the current devices. A device
    missing now is ``gone`` only when its address lies inside ``targets`` (this scan's; none: everywhere):
    a narrower scan of the site did not look for the others. A camera seen behind a recorder is ``gone`` only
    when that recorder's camera list was read and no longer names it (a ``recorder`` skip in ``skips`` says this
    scan could not read it), or when the recorder itself is gone."""
    changes: list[Change] = []
    new_flagged: list[str] = []
    current = {d.key: d for d in devices}
    for key, d in current.items():
        rec = serialize.to_dict(d)
        old = previous.get(key)
        if old is None:
            changes.append(Change(ChangeKind.NEW, key, d.ip, after=str(d.verdict), device=_label(rec)))
            if d.verdict.flagged:
                new_flagged.append(key)
            continue
        for kind in (ChangeKind.IP, ChangeKind.FIRMWARE, ChangeKind.MANUFACTURER, ChangeKind.VERDICT):
            before, after = old.get(kind), rec.get(kind)  # each of these kinds is named after its field
            if before != after and not (kind is ChangeKind.FIRMWARE and after is None):
                changes.append(Change(kind, key, d.ip, before=before, after=after, device=_label(rec)))
        if d.via is not None and old.get("model") and rec.get("model") and old["model"] != rec["model"]:
            # behind a recorder, a slot keyed by its channel (no MAC or serial reported) that now names another
            # model is another camera: say so (a LAN device's model strings vary with what answered: not there)
            changes.append(Change(ChangeKind.MODEL, key, d.ip, before=old["model"], after=rec["model"],
                                  device=_label(rec)))
        if d.verdict.flagged and not _flagged(old):
            new_flagged.append(key)
    scope = _scope(targets)
    unasked_recorders = {s.ip for s in skips if s.stage == "recorder" and s.ip}
    for key, old in previous.items():
        if key not in current and _looked_for(old, scope) and (
                not old.get("via") or _recorder_asked(old, current, previous, scope, unasked_recorders)):
            changes.append(Change(ChangeKind.GONE, key, old.get("ip"), before=old.get("verdict"),
                                  device=_label(old)))
    order = (ChangeKind.NEW, ChangeKind.VERDICT, ChangeKind.GONE, ChangeKind.IP, ChangeKind.FIRMWARE,
             ChangeKind.MANUFACTURER, ChangeKind.MODEL)
    changes.sort(key=lambda c: (c.key not in new_flagged, order.index(c.kind), c.ip or ""))
    return Diff(previous_scan=previous_scan, previous_started=previous_started, changes=tuple(changes),
                new_flagged=tuple(new_flagged))
