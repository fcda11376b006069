"""The inventory: a SQLite store of scans and devices (stdlib sqlite3), and the diff between two scans.

One transaction per scan: a scan is either stored whole or not at all, so a killed run leaves the previous
inventory as it was. The schema carries a version (``PRAGMA user_version``) and forward migrations.

Default location: ``$CAMSCAN_DB`` if set, else ``/var/lib/camscan/inventory.sqlite3`` for root, else
``$XDG_STATE_HOME/camscan/inventory.sqlite3`` (``~/.local/state/camscan/...``).

Devices are keyed stably (MAC, else serial, else endpoint id, else IP: ``Device.key``) with first and last
seen, every address seen, and each scan's full record (evidence included) as history.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from camscan import fsafe, serialize
from camscan.errors import StoreError
from camscan.models import Change, ChangeKind, Device, Diff, ScanResult, Verdict

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE scans (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,
        finished TEXT NOT NULL,
        targets TEXT NOT NULL,
        devices INTEGER NOT NULL,
        flagged INTEGER NOT NULL,
        report TEXT NOT NULL          -- the JSON report (schema_version 1) of this scan
    );
    CREATE TABLE devices (
        key TEXT PRIMARY KEY,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        first_scan INTEGER NOT NULL,
        last_scan INTEGER NOT NULL
    );
    CREATE TABLE sightings (
        scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        ip TEXT, mac TEXT, manufacturer TEXT, brand TEXT, model TEXT, firmware TEXT, verdict TEXT,
        record TEXT NOT NULL,         -- the device's JSON record, evidence included
        PRIMARY KEY (scan_id, key)
    );
    CREATE TABLE addresses (
        key TEXT NOT NULL, ip TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (key, ip)
    );
    CREATE INDEX sightings_key ON sightings(key);
    """,
}


def default_path(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("CAMSCAN_DB"):
        return Path(env["CAMSCAN_DB"])
    if os.geteuid() == 0:
        return Path("/var/lib/camscan/inventory.sqlite3")
    state = Path(env.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "camscan" / "inventory.sqlite3"


@dataclass(frozen=True)
class ScanRow:
    id: int
    started: str
    finished: str
    targets: list[str]
    devices: int
    flagged: int


class Inventory:
    """An open inventory database. Use as a context manager."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.exists():
            raise StoreError(f"no inventory at {self.path} (run 'camscan scan' first, or pass --db)")
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsafe.prepare_database(self.path, readonly)  # no symlink followed; created 0600
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self.db = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate(readonly)
        except sqlite3.OperationalError as exc:
            # locked, read-only or not openable: the file may be fine, so never advise moving it aside
            if "locked" in str(exc):
                raise StoreError(f"inventory {self.path} is locked by another process ({exc}); run again when "
                                 "it has finished") from None
            raise StoreError(f"cannot open inventory {self.path}: {exc} (check its permissions)") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"inventory {self.path} is unusable: {exc} (move it aside to start a new one)") from None
        except OSError as exc:
            raise StoreError(f"cannot open inventory {self.path}: {exc.strerror}") from None

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    def _migrate(self, readonly: bool) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"inventory {self.path} has schema {version}, newer than this camscan "
                             f"({SCHEMA_VERSION}); upgrade camscan")
        if version == SCHEMA_VERSION:
            return
        if readonly:
            raise StoreError(f"inventory {self.path} needs a migration; run a scan with this version first")
        # executescript commits any open transaction first, so each migration carries its own BEGIN/COMMIT
        # and bumps user_version inside it: a migration is applied whole or not at all.
        for v in range(version + 1, SCHEMA_VERSION + 1):
            self.db.executescript(f"BEGIN IMMEDIATE; {_MIGRATIONS[v]}; PRAGMA user_version = {v}; COMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"inventory {self.path} is locked or read-only: {exc}") from None
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    # ---------------------------------------------------------------------------------------------- reads
    def scans(self, limit: int | None = None) -> list[ScanRow]:
        q = "SELECT id, started, finished, targets, devices, flagged FROM scans ORDER BY id DESC"
        rows = self.db.execute(q + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [ScanRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def report(self, scan_id: int | None = None) -> tuple[int, dict] | None:
        """(id, JSON report dict) of a stored scan (latest by default), or None."""
        if scan_id is None:
            row = self.db.execute("SELECT id, report FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        else:
            row = self.db.execute("SELECT id, report FROM scans WHERE id = ?", (scan_id,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def previous_id(self, scan_id: int) -> int | None:
        row = self.db.execute("SELECT max(id) FROM scans WHERE id < ?", (scan_id,)).fetchone()
        return row[0]

    def sightings(self, scan_id: int) -> dict[str, dict]:
        rows = self.db.execute("SELECT key, record FROM sightings WHERE scan_id = ?", (scan_id,)).fetchall()
        return {k: json.loads(r) for k, r in rows}

    def device_history(self, key: str) -> list[tuple[int, dict]]:
        rows = self.db.execute("SELECT scan_id, record FROM sightings WHERE key = ? ORDER BY scan_id",
                               (key,)).fetchall()
        return [(s, json.loads(r)) for s, r in rows]

    def addresses(self, key: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT ip FROM addresses WHERE key = ? ORDER BY first_seen",
                                              (key,))]

    # --------------------------------------------------------------------------------------------- writes
    def store(self, result: ScanResult, note: str = "", keep: int | None = None,
              before_commit: Callable[[int], object] | None = None) -> int:
        """Store a scan in one transaction; returns its id. The scan's JSON report (with ``note`` as its
        ``legal_note`` and the new id as its ``scan_id``) and each device's record are written through
        :mod:`camscan.serialize`, so ``camscan report`` reads back what the JSON report would have said.
        ``before_commit(scan_id)`` runs last inside the transaction (the CLI writes the report there): if it
        raises, the scan is not stored, so its findings still count as new next time."""
        started = result.started.strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.transaction() as db:
            cur = db.execute("INSERT INTO scans (started, finished, targets, devices, flagged, report) "
                             "VALUES (?, ?, ?, ?, ?, '{}')",
                             (started, result.finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              json.dumps(list(result.targets)), len(result.devices), len(result.flagged)))
            scan_id = cur.lastrowid
            for d in result.devices:
                rec = serialize.to_dict(d)
                db.execute("INSERT OR REPLACE INTO sightings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (scan_id, d.key, d.ip, d.mac, d.manufacturer, d.brand, d.model, d.firmware,
                            str(d.verdict), json.dumps(rec)))
                db.execute("INSERT INTO devices VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                           "last_seen = excluded.last_seen, last_scan = excluded.last_scan",
                           (d.key, started, started, scan_id, scan_id))
                db.execute("INSERT INTO addresses VALUES (?, ?, ?, ?) ON CONFLICT(key, ip) DO UPDATE SET "
                           "last_seen = excluded.last_seen", (d.key, d.ip, started, started))
            report = serialize.report_dict(dataclasses.replace(result, scan_id=scan_id), note)
            db.execute("UPDATE scans SET report = ? WHERE id = ?", (json.dumps(report), scan_id))
            if keep:
                db.execute("DELETE FROM scans WHERE id NOT IN (SELECT id FROM scans ORDER BY id DESC LIMIT ?)",
                           (int(keep),))
            if before_commit is not None:
                before_commit(scan_id)
        return scan_id

    def diff_against_latest(self, result: ScanResult) -> Diff:
        """What changed between the latest stored scan and ``result`` (not yet stored)."""
        row = self.db.execute("SELECT id, started FROM scans ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return Diff(previous_scan=None, previous_started=None)
        return diff(self.sightings(row[0]), result.devices, previous_scan=row[0], previous_started=row[1])


def _flagged(rec: dict) -> bool:
    """Whether a stored device record's verdict is a flagged one (a record from an unknown version: no)."""
    try:
        return Verdict(rec.get("verdict")).flagged
    except ValueError:
        return False


def _label(rec: dict) -> str:
    parts = [rec.get("manufacturer") or rec.get("brand") or "?", rec.get("model") or ""]
    return " ".join(p for p in parts if p)


def diff(previous: dict[str, dict], devices: tuple[Device, ...] | list[Device], previous_scan: int | None = None,
         previous_started: str | None = None) -> Diff:
    """Changes from the previous scan's device records (key -> JSON record) to the current devices."""
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
        if d.verdict.flagged and not _flagged(old):
            new_flagged.append(key)
    for key, old in previous.items():
        if key not in current:
            changes.append(Change(ChangeKind.GONE, key, old.get("ip"), before=old.get("verdict"),
                                  device=_label(old)))
    order = (ChangeKind.NEW, ChangeKind.VERDICT, ChangeKind.GONE, ChangeKind.IP, ChangeKind.FIRMWARE,
             ChangeKind.MANUFACTURER)
    changes.sort(key=lambda c: (c.key not in new_flagged, order.index(c.kind), c.ip or ""))
    return Diff(previous_scan=previous_scan, previous_started=previous_started, changes=tuple(changes),
                new_flagged=tuple(new_flagged))
