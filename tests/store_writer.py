"""A writer process for tests/test_store_postgres.py's concurrency test: waits for 'go' on stdin, then stores
``count`` scans of ``site`` (each device's firmware names the writer and the round), under the run lock or
without it (then only the write lock inside each transaction orders them). Prints each stored scan id."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import UTC, datetime

from camscan import store
from camscan.models import Device, ScanResult, Verdict


def main(url: str, site: str, writer: str, count: int, use_lock: bool) -> None:
    where = store.Location(url=url)
    sys.stdin.readline()  # the start signal: every writer begins at once
    for i in range(count):
        fw = f"{writer}-{i}"
        devices = tuple(Device(ip=f"10.0.0.{n}", mac=None, manufacturer="Axis", brand="Axis", model="M1",
                               firmware=fw, serial=None, hardware_id=None, hostname=None, endpoint=None, xaddrs=(),
                               seen_by=("wsd",), evidence=(), verdict=Verdict.CLEAR) for n in range(1, 6))
        now = datetime.now(UTC)
        result = ScanResult(started=now, finished=now, targets=("10.0.0.0/24",), interfaces=("eth0",),
                            methods=("wsd-multicast",), devices=devices, skips=())
        lock = store.run_lock(where, site, wait=120) if use_lock else nullcontext()
        with lock, store.open(where) as inv:
            stored = inv.record(result, site=site)
        print(stored.scan_id, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "lock")
