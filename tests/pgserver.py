"""A throwaway PostgreSQL server for the tests: the distribution's own server binaries, a fresh cluster in a
temporary directory, listening on a unix socket only (``listen_addresses = ''``), stopped and deleted after.

The server refuses to run as root, so as root the cluster belongs to the ``postgres`` user (Debian's package
creates it) and every server command runs as that user (``setpriv``); as any other user it runs as that user.
The unix socket is a file, so it is reachable from inside the network namespaces the end-to-end tests build
(they share the filesystem), which TCP on loopback would not be.

Roles: ``camscan`` is the superuser tests connect as (trust over the socket); ``pwuser`` must give a
password (scram-sha-256), to show libpq's own password mechanisms (``PGPASSWORD``, ``~/.pgpass``) work.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

PW_USER, PW_PASSWORD = "pwuser", "s3cret-pw-Xq7"  # noqa: S105 - a throwaway test cluster's role


class Unavailable(Exception):
    """No PostgreSQL server binaries (or no way to run them): the reason is the message."""


def server_bin() -> Path:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/<ver>/bin, not on PATH)."""
    if os.environ.get("CAMSCAN_TEST_PG_BIN"):
        return Path(os.environ["CAMSCAN_TEST_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise Unavailable("no PostgreSQL server binaries (install the distribution's 'postgresql' package)")


class Server:
    def __init__(self) -> None:
        self.bin = server_bin()
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (self.bin / tool).exists():
                raise Unavailable(f"{self.bin / tool} is missing")
        self.root = Path(tempfile.mkdtemp(prefix="camscan-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self._uid = self._gid = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
            if not shutil.which("setpriv"):
                shutil.rmtree(self.root)
                raise Unavailable("running as root and setpriv (util-linux) is missing")
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
        os.chmod(self.root, 0o755)  # the socket directory must be reachable by the (root) clients
        self.socket_dir.mkdir(mode=0o755)
        if self._uid is not None:
            os.chown(self.root, self._uid, self._gid)
            os.chown(self.socket_dir, self._uid, self._gid)
        self._counter = itertools.count(1)
        self.started = False

    def _run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        if self._uid is not None:
            cmd = ("setpriv", f"--reuid={self._uid}", f"--regid={self._gid}", "--init-groups", *cmd)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.root)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc

    def start(self) -> Server:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "camscan", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        conf = self.data / "postgresql.conf"
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write(f"\nlisten_addresses = ''\nunix_socket_directories = '{self.socket_dir}'\n"
                     "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n")
        (self.data / "pg_hba.conf").write_text(
            f"local all {PW_USER} scram-sha-256\nlocal all all trust\n", encoding="utf-8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")
        self.started = True
        self.sql("postgres", f"CREATE ROLE {PW_USER} LOGIN PASSWORD '{PW_PASSWORD}'")
        return self

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            self.started = False
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str, user: str = "camscan") -> str:
        """A libpq URL to ``dbname`` over the unix socket (the socket directory as the host parameter)."""
        return f"postgresql://{user}@/{dbname}?host={quote(str(self.socket_dir), safe='/')}"

    def sql(self, dbname: str, *statements: str) -> list:
        import psycopg

        rows: list = []
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            for s in statements:
                cur = conn.execute(s)
                if cur.description:
                    rows.extend(cur.fetchall())
        return rows

    def new_database(self, owner: str = "camscan") -> str:
        """A fresh, empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        self.sql("postgres", f"CREATE DATABASE {name} OWNER {owner}")
        return self.url(name)

    def log(self) -> str:
        try:
            return (self.root / "server.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
