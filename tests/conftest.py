"""Test guards (ARCHITECTURE.md, seams for testing 6): no packet from the test process to a non-loopback
address, a clean CAMSCAN_* environment, no thread left running. End-to-end tests reach emulated devices only
from inside network namespaces the tests create (camscan.lab), never from the host namespace this process runs
in."""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import time

import pytest


def _guard(event: str, args: tuple) -> None:
    if event not in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        return
    address = args[1] if len(args) > 1 else None
    if not isinstance(address, tuple) or not address:
        return  # AF_UNIX paths, netlink and the like
    host = str(address[0]).split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host in ("localhost", ""):
            return
        raise RuntimeError(f"test tried to reach {host!r}: tests talk to loopback or test namespaces only") from None
    if not ip.is_loopback:
        raise RuntimeError(f"test tried to send to {ip}: only loopback is allowed from the test process")


sys.addaudithook(_guard)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("CAMSCAN_"):
            monkeypatch.delenv(key)
    yield


# How long a test's own threads may take to end once it has returned. A guard against a hang, not a bound on
# anything: a thread that ends at all ends within milliseconds of its test closing its sockets.
THREAD_GRACE_S = 10.0


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    """Fail a test that leaves a thread running: every thread it started (daemon or not) must have ended.
    Threads of wider-scoped fixtures exist before this snapshot and are not counted."""
    before = set(threading.enumerate())
    yield
    new = [t for t in threading.enumerate() if t not in before]
    end = time.monotonic() + THREAD_GRACE_S
    for t in new:
        t.join(max(0.0, end - time.monotonic()))
    alive = [t for t in new if t.is_alive()]
    if alive:
        pytest.fail("test left threads running: " + ", ".join(
            f"{t.name} ({'daemon' if t.daemon else 'non-daemon'}, target {getattr(t, '_target', None)!r})"
            for t in alive), pytrace=False)


_netns_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report):
    if "netns" in report.keywords and (report.when == "call" or report.skipped):
        _netns_outcomes[report.outcome] = _netns_outcomes.get(report.outcome, 0) + 1


def pytest_sessionfinish(session, exitstatus):
    """In CI (root) the emulated-site tests must run: fail the session if all of them were skipped."""
    if os.environ.get("CI_REQUIRE_NETNS") and not (_netns_outcomes["passed"] or _netns_outcomes["failed"]):
        print(f"\nCI_REQUIRE_NETNS: no end-to-end (netns) test ran ({_netns_outcomes['skipped']} skipped)")
        session.exitstatus = 1


# ------------------------------------------------------------------------------------- PostgreSQL (issue 13)
@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster on a unix socket (tests/pgserver.py) for the whole session, stopped after.
    Skips with the reason when no server binaries (or psycopg) are installed; CI_REQUIRE_POSTGRES (set by
    .ci/run) turns that skip into a failure."""
    import pgserver

    try:
        import psycopg  # noqa: F401
        server = pgserver.Server()
    except (ImportError, pgserver.Unavailable) as exc:
        reason = f"no PostgreSQL for the tests: {exc}"
        if os.environ.get("CI_REQUIRE_POSTGRES"):
            pytest.fail(f"CI_REQUIRE_POSTGRES: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        server.start()
    except BaseException:
        log = server.log()
        server.stop()
        if log:
            print(log[-4000:], file=sys.stderr)
        raise
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request, tmp_path):
    """The same store test on both backends: a fresh SQLite file, or a fresh PostgreSQL database."""
    from camscan.store import Location

    if request.param == "sqlite":
        return Location(path=tmp_path / "inventory.sqlite3")
    return Location(url=request.getfixturevalue("pg_server").new_database())
