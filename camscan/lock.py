"""One scan at a time per inventory: an advisory lock (flock) next to the database.

A second run started while the first still holds the lock waits up to ``wait`` seconds, then gives up with
a could-not-run error (exit 3) naming the holder's pid. The kernel releases a flock when its holder dies,
so a crashed or killed run never leaves a stale lock behind. A symlink where the lock file belongs is refused
(``O_NOFOLLOW``), never followed.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from camscan.errors import StoreError
from camscan.fsafe import open_nofollow


class RunLock:
    def __init__(self, db_path: Path | None, wait: float = 30.0) -> None:
        self.path = Path(f"{db_path}.lock") if db_path is not None else None
        self.wait = max(0.0, wait)
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        if self.path is None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o600, what="lock file")
        except OSError as exc:
            raise StoreError(f"cannot create lock file {self.path}: {exc.strerror}") from None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise StoreError(f"another camscan scan (pid {holder}) holds {self.path}; waited "
                                     f"{self.wait:g} s (raise --lock-wait, or stagger the cron jobs)") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
