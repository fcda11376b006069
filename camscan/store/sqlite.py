"""The SQLite inventory (stdlib sqlite3): one file, for a single site; the default.

The schema version is ``PRAGMA user_version``; each migration runs in its own transaction and bumps the
version inside it, so it is applied whole or not at all. Version 2 gave every row a site: the scans of a
version 1 file become site ``default``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from camscan import fsafe
from camscan.errors import StoreError
from camscan.store.base import SCHEMA_VERSION, Store

MIGRATIONS: dict[int, str] = {
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
    2: """
    ALTER TABLE scans ADD COLUMN site TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX scans_site ON scans(site, id);
    CREATE TABLE devices_v2 (
        site TEXT NOT NULL,
        key TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        first_scan INTEGER NOT NULL,
        last_scan INTEGER NOT NULL,
        PRIMARY KEY (site, key)
    );
    INSERT INTO devices_v2 SELECT 'default', key, first_seen, last_seen, first_scan, last_scan FROM devices;
    DROP TABLE devices;
    ALTER TABLE devices_v2 RENAME TO devices;
    CREATE TABLE addresses_v2 (
        site TEXT NOT NULL, key TEXT NOT NULL, ip TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        PRIMARY KEY (site, key, ip)
    );
    INSERT INTO addresses_v2 SELECT 'default', key, ip, first_seen, last_seen FROM addresses;
    DROP TABLE addresses;
    ALTER TABLE addresses_v2 RENAME TO addresses;
    """,
}
assert max(MIGRATIONS) == SCHEMA_VERSION


class SQLiteStore(Store):
    def __init__(self, path: Path, readonly: bool = False, migrate: bool = True) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        if readonly and not self.path.exists():
            raise StoreError(f"no inventory at {self.path} (run 'camscan scan' first, or pass --db)")
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fsafe.prepare_database(self.path, readonly)  # no symlink followed; created 0600
            uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
            self.db = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self._check_version(readonly, migrate)
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

    def close(self) -> None:
        self.db.close()

    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def _check_version(self, readonly: bool, migrate: bool) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(f"inventory {self.path} has schema {version}, newer than this camscan "
                             f"({SCHEMA_VERSION}); upgrade camscan")
        if version < SCHEMA_VERSION:
            if readonly:
                raise StoreError(f"inventory {self.path} has schema {version} and needs a migration to "
                                 f"{SCHEMA_VERSION}; run 'camscan db upgrade' (or a scan) with this version first")
            if migrate:
                self.upgrade()

    def upgrade(self) -> tuple[int, int]:
        """All pending migrations in one transaction that also bumps user_version: applied whole or not at all.
        BEGIN IMMEDIATE, then a second look at the version: two processes opening an old file at once
        migrate it once."""
        before = self.schema_version()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            current = self.schema_version()
            for v in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[v].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
            if current < SCHEMA_VERSION:
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return before, self.schema_version()

    @contextmanager
    def _transaction(self, site: str | None = None) -> Iterator[sqlite3.Cursor]:
        try:
            self.db.execute("BEGIN IMMEDIATE")  # one writer at a time per file: the whole database is the lock
        except sqlite3.OperationalError as exc:
            raise StoreError(f"inventory {self.path} is locked or read-only: {exc}") from None
        try:
            yield self.db.cursor()
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.db.execute(sql, list(params)).fetchall()
