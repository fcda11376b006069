"""The inventory: scans and devices of one or many sites, in SQLite (a file, the default) or PostgreSQL (a
``postgresql://`` URL, for a central inventory of many sites), behind one interface (:class:`Store`).

    from camscan import store

    where = store.resolve(args.db, cfg.output.get("db"))      # --db, $CAMSCAN_DB, [output] db, default file
    with store.run_lock(where, site, wait=30), store.open(where) as inv:
        result = inv.record(result, render, site=site, keep=10)

Devices are keyed stably within a site (MAC, else serial, else endpoint id, else IP: ``Device.key``) with first
and last seen, every address seen, and each scan's full record (evidence included) as history.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from camscan.store.base import SCHEMA_VERSION, ScanRow, SiteRow, Store, diff
from camscan.store.location import DEFAULT_SITE, Location, default_path, parse, redact, resolve, site_name

__all__ = [
    "DEFAULT_SITE",
    "SCHEMA_VERSION",
    "Location",
    "ScanRow",
    "SiteRow",
    "Store",
    "default_path",
    "diff",
    "open",
    "parse",
    "redact",
    "resolve",
    "run_lock",
    "site_name",
]


def open(where: Location, readonly: bool = False, migrate: bool = True) -> Store:  # noqa: A001 - reads well
    """The store at ``where``, migrated to the current schema unless ``migrate`` is false (``readonly``: never
    written, nor migrated). A database of a newer schema than this code's is a StoreError (exit 3)."""
    if where.is_postgres:
        from camscan.store.postgres import PostgresStore

        return PostgresStore(where.url, readonly=readonly, migrate=migrate)
    from camscan.store.sqlite import SQLiteStore

    return SQLiteStore(where.path, readonly=readonly, migrate=migrate)


def run_lock(where: Location, site: str, wait: float) -> AbstractContextManager:
    """One scan at a time: per site on PostgreSQL (an advisory lock), per file on SQLite (``<db>.lock``)."""
    if where.is_postgres:
        from camscan.store.postgres import AdvisoryRunLock

        return AdvisoryRunLock(where.url, site, wait)
    from camscan.lock import RunLock

    return RunLock(where.path, wait=wait)
