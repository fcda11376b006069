"""Command line: parse, build options, run the Scanner, pick a format, map the result to an exit code.

This is the only module that prints (besides report renderers, which return strings) and the only one that
exits. Exit codes are a contract for cron (README): 0 nothing flagged, 1 at least one device ``sanctioned`` or
``review``, 2 usage error, 3 could not run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from camscan import __version__
from camscan.errors import CamscanError, RunError, UsageError
from camscan.models import ChangeKind, ScanOptions, ScanResult
from camscan.notify import FailOn, alerting
from camscan.report import OutputFormat, render

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  nothing flagged (--fail-on new: nothing newly flagged; --fail-on none: always, after a scan)
  1  a device is sanctioned or review (--fail-on new: newly flagged since the previous stored scan)
  2  usage error: bad option, malformed target, unknown interface, unknown scan id
  3  could not run: no usable interface, no permission, bad config, inventory locked, report not writable"""
ENVIRONMENT = """environment:
  CAMSCAN_USERNAME, CAMSCAN_PASSWORD  ONVIF/HTTP credentials (never on the command line; or [credentials]
                                      in the config file, which must then be private: chmod 600)
  CAMSCAN_DB                          inventory database (default /var/lib/camscan/inventory.sqlite3 as root)
  CAMSCAN_NOTIFY_WEBHOOKS             webhook URLs to notify, space-separated (or [notify] webhooks)
  CAMSCAN_SMTP_USERNAME, CAMSCAN_SMTP_PASSWORD  SMTP login for email notifications (or [notify])"""
SCAN_EXAMPLES = """examples:
  camscan scan                                   the attached subnets, table on stdout
  camscan scan 198.51.100.0/24 --format html -o report.html
  camscan scan 198.51.100.10-40 10.0.0.5 --format json --deadline 300
  CAMSCAN_USERNAME=auditor CAMSCAN_PASSWORD=... camscan scan 198.51.100.0/24
  camscan scan --config /etc/camscan/camscan.toml --quiet --fail-on new --format html -o /var/lib/camscan/report.html
                                                 cron: silent unless a device is newly flagged"""
FORMAT_HELP = ("report format (default: the one the -o file's suffix names: .html/.htm, .json, .csv, .cdx.json "
               "for cyclonedx, .txt for table; else {})")
QUIET_HELP = ("for cron: no progress and no closing summary; stderr carries errors and, only when a device is "
              "(newly, per --fail-on) flagged, one line per such device")
log = logging.getLogger("camscan")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so every exit goes through main()."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _number(kind: type, what: str, allow_zero: bool = False):
    """An argparse type: a finite number of ``kind`` greater than 0 (0 too with ``allow_zero``); anything else
    is a usage error."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):  # float() reads "nan" and "inf": neither is a time or a rate
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if value < 0 or (value == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'0 or more' if allow_zero else 'greater than 0'}")
        return value
    return convert


def _choice(kind: type, what: str):
    """An argparse type for a StrEnum whose error lists the choices (not argparse's internal class name)."""
    def convert(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what} (choose from "
                                             f"{', '.join(str(k) for k in kind)})") from None
    return convert


_FORMAT = _choice(OutputFormat, "a report format")
_FAIL_ON = _choice(FailOn, "a --fail-on choice")
_positive = _number(float, "a number")
_non_negative = _number(float, "a number", allow_zero=True)
_positive_int = _number(int, "a whole number")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="camscan", description="Find network cameras and recorders, identify who really made "
                                            "them, and flag hardware from sanctioned vendors.",
                epilog=EXIT_CODES + "\n\n" + ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"camscan {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    # -v/-q work before or after the command (`camscan -q scan` and `camscan scan -q`); SUPPRESS keeps a
    # subcommand's absent flag from overriding the global one.
    def common_options(quiet_help: str) -> argparse.ArgumentParser:
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                            help="more log output on stderr (-vv: debug)")
        common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=quiet_help)
        return common
    alerting_run = common_options(QUIET_HELP)  # the commands with --fail-on
    other = common_options("only errors on stderr")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    _add = sub.add_parser

    def add_parser(name, **kw):
        return _add(name, parents=[alerting_run if name in ("scan", "replay", "demo") else other], **kw)
    sub.add_parser = add_parser  # type: ignore[method-assign]

    s = sub.add_parser("scan", help="scan targets or the attached subnets and report devices",
                       description="Scan targets (or the attached subnets), identify each camera's real maker, "
                                   "store the scan in the inventory and report it.",
                       epilog=SCAN_EXAMPLES + "\n\n" + EXIT_CODES + "\n\n" + ENVIRONMENT,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("targets", nargs="*", metavar="TARGET",
                   help="IPv4 address, CIDR (198.51.100.0/24) or range (198.51.100.10-40); default: the "
                        "subnets of the up, multicast-capable, non-loopback interfaces")
    s.add_argument("-i", "--interface", action="append", default=[], metavar="NAME",
                   help="interface to scan from (repeatable; default: all usable)")
    s.add_argument("--format", type=_FORMAT, choices=list(OutputFormat), default=None,
                   help=FORMAT_HELP.format("[output] format, else table"))
    s.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write the report to FILE (atomically, only after the scan succeeded)")
    s.add_argument("--timeout", type=_positive, default=None, metavar="S", help="per network call (default 3)")
    s.add_argument("--deadline", type=_positive, default=None, metavar="S",
                   help="whole-scan deadline; a scan that hits it still reports (default: 120, more for a large "
                        "target: 5 x its sweep at --rate plus 14; a /16 gets 342)")
    s.add_argument("--wsd-wait", type=_non_negative, default=None, metavar="S",
                   help="extra WS-Discovery collection time for slow sites (default 0)")
    s.add_argument("--rate", type=_positive, default=None, metavar="PPS",
                   help="directed probes per second (default 1000)")
    s.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="devices probed at once (default 32; each costs one TCP connection at a time)")
    s.add_argument("--max-hosts", type=_positive_int, default=None, metavar="N",
                   help="hosts probed per scan at most; answers from more addresses are counted, not probed "
                        "(default 16384)")
    s.add_argument("--allow-large", action="store_true",
                   help="allow targets of more than 65536 addresses")
    s.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (targets, credentials, ...)")
    s.add_argument("--policy", type=Path, action="append", default=[], metavar="FILE",
                   help="site policy file to apply on top of the default (repeatable)")
    _db_options(s)
    s.add_argument("--site", type=_site, default=None, metavar="NAME",
                   help="the site this scan is of ([scan] site; default 'default'): diffs, device keys and "
                        "--keep are per site, so many sites can share one (PostgreSQL) inventory")
    s.add_argument("--no-db", action="store_true", help="do not store the scan in the inventory (no diff)")
    s.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)  # run by `camscan demo` (the summary)
    s.add_argument("--keep", type=_positive_int, default=None, metavar="N",
                   help="keep only the site's newest N scans in the inventory ([output] keep; default: all)")
    s.add_argument("--fail-on", type=_FAIL_ON, choices=list(FailOn), default=None,
                   help="exit 1 when any device is flagged (any, default), only when a device is newly "
                        "flagged since the previous stored scan (new; on the first scan every flagged device is "
                        "new), never (none), or as 'any' and also when a device's firmware is listed as "
                        "known-exploited, exact or possible (kev); with --quiet the same devices are summarised "
                        "on stderr and notified")
    s.add_argument("--user", default=None, metavar="NAME",
                   help="run as root: the user the probing and parsing of device replies runs as, with no "
                        "privileges but the ARP socket's (default: [scan] user, else nobody)")
    s.add_argument("--lock-wait", type=_non_negative, default=30.0, metavar="S",
                   help="how long to wait for another running scan to finish (default 30)")
    s.add_argument("--record", type=Path, default=None, metavar="DIR",
                   help="also write what each device answered into DIR/<ip>/ (the fixtures format; 'camscan "
                        "replay' reads it): never the requests, credentials or password fields")

    rp = sub.add_parser("replay", help="identify devices from recorded device folders, without the network",
                        description="Run identification, policy and the report on recorded device folders "
                                    "(fixtures/README.md; 'camscan scan --record' writes them) with no network. "
                                    "Exit codes as for scan; nothing is stored unless --db is given.")
    rp.add_argument("folders", nargs="+", type=Path, metavar="DIR", help="a device folder (repeatable)")
    rp.add_argument("--format", type=_FORMAT, choices=list(OutputFormat), default=None,
                    help=FORMAT_HELP.format("table"))
    rp.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report to FILE (atomically)")
    rp.add_argument("--policy", type=Path, action="append", default=[], metavar="FILE",
                    help="site policy file (repeatable)")
    rp.add_argument("--db", default=None, metavar="PATH|URL", help="store the replayed scan in this inventory")
    _site_option(rp, "the site the replayed scan is stored under (with --db; default 'default')")
    rp.add_argument("--fail-on", type=_FAIL_ON, choices=list(FailOn), default=FailOn("any"),
                    help="as for scan (new: against the inventory given with --db)")
    rp.add_argument("--user", default=None, metavar="NAME",
                    help="run as root: the user the parsing of the recorded replies runs as (default nobody)")
    rp.add_argument("--lock-wait", type=_non_negative, default=30.0, metavar="S",
                    help="with --db: how long to wait for another run on the same site to finish (default 30)")

    r = sub.add_parser("report", help="re-render a stored scan (latest by default) without touching the network")
    r.add_argument("--scan", type=_positive_int, default=None, metavar="ID", help="scan id (see 'camscan history')")
    r.add_argument("--format", type=_FORMAT, choices=list(OutputFormat), default=None, help=FORMAT_HELP.format("table"))
    r.add_argument("-o", "--output", type=Path, metavar="FILE")
    r.add_argument("--no-diff", action="store_true", help="leave out the changes since the previous scan")
    _db_options(r, reader=True)

    df = sub.add_parser("diff", help="compare two stored scans (exit 1 when the later flags a device the earlier "
                                     "did not)",
                        description="Compare two stored scans without touching the network. No SCAN: the "
                                    "latest scan against its predecessor; one: that scan against its "
                                    "predecessor; two: the earlier against the later. The report is the later "
                                    "scan's, led by what changed. Exit 1 when a device is flagged in the later "
                                    "scan and not in the earlier, 0 otherwise, 2 for an unknown scan id or "
                                    "scans of different sites.",
                        epilog="examples:\n  camscan diff                   latest scan against the one before\n"
                               "  camscan diff 12 --format json  scan 12 against scan 11\n"
                               "  camscan diff 3 12 -o diff.html --format html",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    df.add_argument("scans", nargs="*", type=_positive_int, metavar="SCAN",
                    help="scan ids (see 'camscan history'): none, one or two")
    df.add_argument("--format", type=_FORMAT, choices=list(OutputFormat), default=None,
                    help=FORMAT_HELP.format("[output] format, else table"))
    df.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the report to FILE (atomically)")
    df.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (its [output] db and format)")
    _db_options(df)
    _site_option(df, "without SCAN: the latest scan of this site against its predecessor (default: the latest "
                     "scan of any site)")

    h = sub.add_parser("history", help="list stored scans (of every site, or of --site)")
    h.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                   help="show at most the N newest scans (default 20)")
    _db_options(h, reader=True)

    db = sub.add_parser("db", help="inventory tools")
    dbsub = db.add_subparsers(dest="db_command", parser_class=_Parser, metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="migrate the inventory to this version's schema now (scans do it "
                                          "themselves; run this ahead of a cron window)")
    _db_options(up)
    up.add_argument("--config", type=Path, metavar="FILE", help="TOML config file ([output] db)")

    c = sub.add_parser("config", help="configuration tools")
    csub = c.add_subparsers(dest="config_command", parser_class=_Parser, metavar="ACTION", required=True)
    cc = csub.add_parser("check", help="validate a config file (and the policy files it names)")
    cc.add_argument("--config", type=Path, required=True, metavar="FILE")

    d = sub.add_parser("demo", help="build an emulated site in network namespaces, scan it, tear it down "
                                    "(root, Linux)")
    d.add_argument("--format", type=_FORMAT, choices=list(OutputFormat), default=OutputFormat.TABLE)
    d.add_argument("--site-file", default="demo", metavar="NAME",
                   help="lab site: a name under camscan/lab/sites or a path (default demo)")
    d.add_argument("--site", dest="site_file", help=argparse.SUPPRESS)  # the old spelling of --site-file
    return p


def _site(text: str) -> str:
    from camscan.store import site_name

    try:
        return site_name(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--site: ")) from None


def _db_options(p: argparse.ArgumentParser, reader: bool = False) -> None:
    p.add_argument("--db", default=None, metavar="PATH|URL",
                   help="inventory: a SQLite file or a postgresql:// URL without a password (default: $CAMSCAN_DB, "
                        "[output] db, /var/lib/camscan/inventory.sqlite3 as root, else "
                        "~/.local/state/camscan/inventory.sqlite3)")
    if reader:
        _site_option(p, "only this site (default: every site in the inventory)")
        p.add_argument("--config", type=Path, metavar="FILE", help="TOML config file ([output] db)")


def _site_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--site", type=_site, default=None, metavar="NAME", help=help_text)


def _setup_logging(args) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="camscan: %(levelname)s: %(message)s")
    # third-party libraries speak at debug only when asked twice
    for noisy in ("zeep", "urllib3"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def build_options(args, cfg) -> ScanOptions:
    from camscan import net
    from camscan.scan import default_deadline

    scan_cfg = cfg.scan
    target_texts = args.targets or scan_cfg.get("targets", [])
    allow_large = args.allow_large or scan_cfg.get("allow_large", False)
    targets = net.parse_targets([str(t) for t in target_texts], allow_large=allow_large)
    names = args.interface or scan_cfg.get("interfaces", [])
    if targets:
        available = net.list_interfaces()
        interfaces = (net.select_interfaces(names, available) if names
                      else [i for i in available if net.usable(i)])
    else:
        interfaces = net.select_interfaces(names)
    scope = targets or net.attached_networks(interfaces)

    def pick(name: str, default):
        value = getattr(args, name, None)
        return value if value is not None else scan_cfg.get(name, default)

    return ScanOptions(
        targets=targets,
        interfaces=tuple(interfaces),
        scope=tuple(scope),
        credentials=cfg.credentials,
        credential_scope=cfg.credential_scope,
        **({"credential_ports": cfg.credential_ports} if cfg.credential_ports is not None else {}),
        timeout=float(pick("timeout", 3.0)),
        deadline=float(deadline) if (deadline := pick("deadline", None)) is not None else default_deadline(
            targets, interfaces, float(pick("rate", 1000.0)), float(pick("timeout", 3.0))),
        wsd_wait=float(pick("wsd_wait", 0.0)),
        rate=float(pick("rate", 1000.0)),
        workers=int(pick("workers", 32)),
        max_hosts=int(pick("max_hosts", 16384)),
    )


def write_atomic(path: Path, write: Callable[[TextIO], object]) -> None:
    """Write a report to ``path`` via a temporary file in the same directory and a rename: ``write`` writes it
    (in pieces, if it likes) to the open temporary file. A failed or killed run, or anything ``write`` raises,
    never leaves a half-written report where the last good one was."""
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise RunError(f"cannot write report {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"cannot write report {path}: {exc.strerror}") from None
    except BaseException:  # a bug or Ctrl-C while writing: no stray temporary file either
        Path(tmp).unlink(missing_ok=True)
        raise


_SUFFIX_FORMATS = ((".cdx.json", OutputFormat.CYCLONEDX), (".json", OutputFormat.JSON), (".html", OutputFormat.HTML),
                   (".htm", OutputFormat.HTML), (".csv", OutputFormat.CSV), (".txt", OutputFormat.TABLE))


def report_format(given: OutputFormat | None, output: Path | None, configured: str | None = None,
                  configured_output: Path | None = None) -> OutputFormat:
    """The report format: --format when given on the command line, else the one the -o file's suffix names
    (.html/.htm, .json, .csv, .cdx.json for CycloneDX, .txt for the table), else the config's ``format``, else
    the config file's suffix, else the table."""
    def by_suffix(path: Path | None) -> OutputFormat | None:
        name = path.name.lower() if path else ""
        return next((fmt for suffix, fmt in _SUFFIX_FORMATS if name.endswith(suffix)), None)

    return (given or by_suffix(output) or (OutputFormat(configured) if configured else None)
            or by_suffix(configured_output) or OutputFormat.TABLE)


def write_report(output: Path | None, result: ScanResult, fmt: OutputFormat, note: str) -> None:
    """The report to ``output`` (atomically) or to stdout. JSON is streamed a device at a time: as one string
    a 1,000-device JSON report cost about 100 MB of peak memory (``camscan.report.json.write``)."""
    if fmt is OutputFormat.JSON:
        from camscan.report import json as json_report

        def write(fh: TextIO) -> None:
            json_report.write(result, fh, note=note)
    else:
        text = render(result, fmt, note=note)

        def write(fh: TextIO) -> None:
            fh.write(text)
    if output:
        write_atomic(output, write)
    else:
        write(sys.stdout)


def exit_code(result: ScanResult, fail_on: FailOn = FailOn.ANY) -> int:
    """0 nothing (newly) flagged, 1 findings, per --fail-on (README: the cron contract)."""
    return EXIT_FINDINGS if alerting(result, fail_on) else EXIT_CLEAN


def check_output(path: Path) -> None:
    """Before a scan: can a report be written to ``path``? A directory or a missing parent directory is a
    usage error (exit 2); a directory camscan may not write into is a could-not-run error (exit 3). A scan
    that could not deliver its report would be wasted, and worse, stored as seen."""
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory, not a report file")
    if not directory.is_dir():
        raise UsageError(f"-o {path}: directory {directory} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise RunError(f"cannot write report {path}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)


def run_summary(result: ScanResult, stored: object | None, output: Path | None,
                not_stored: str = "--no-db") -> str:
    """The one line that ends every run without --quiet: counts, what is new, and the paths written
    (``not_stored``: why nothing was stored, when nothing was)."""
    devices = alerting(result, FailOn.NEW) if result.diff is not None else []
    new = f" ({len(devices)} newly)" if result.diff is not None else ""
    took = (result.finished - result.started).total_seconds()
    scan = f"scan #{result.scan_id}" if result.scan_id is not None else "scan"
    parts = [f"camscan: {scan}: {len(result.devices)} device(s), {len(result.flagged)} flagged{new}, "
             f"{len(result.skips)} skip(s) in {took:.1f} s"]
    parts.append(f"stored in {stored}" if stored else f"not stored ({not_stored})")
    parts.append(f"wrote {output}" if output else "report on stdout")
    return "; ".join(parts) + "\n"


def cmd_scan(args) -> int:
    import contextlib

    from camscan import config, notify, privsep, progress, store
    from camscan.notify import send
    from camscan.policy import load_policy
    from camscan.scan import Scanner

    cfg = config.load(args.config)
    options = build_options(args, cfg)
    policy = load_policy([*cfg.policy_files, *args.policy])
    output = args.output or (Path(cfg.output["file"]) if cfg.output.get("file") else None)
    fmt = report_format(args.format, args.output, cfg.output.get("format"), output)
    fail_on = args.fail_on or FailOn(cfg.output.get("fail_on", "any"))
    site = args.site or store.site_name(cfg.scan.get("site", store.DEFAULT_SITE), "[scan] site")
    keep = args.keep or cfg.output.get("keep")
    where = None if args.no_db else store.resolve(args.db, cfg.output.get("db"))
    if output:
        check_output(output)
    if not options.targets:
        log.warning("no targets given: scanning %s on %s",
                    ", ".join(str(n) for n in options.scope), ", ".join(i.name for i in options.interfaces))
    with store.run_lock(where, site, wait=args.lock_wait) if where else contextlib.nullcontext():
        if where:
            # migrated, or refused (newer schema, unreachable), before the scan; closed again so the probing
            # child (camscan.privsep) inherits no database connection
            store.open(where).close()
        recorder = None
        if args.record:
            from camscan.replay import RecordingTransport

            recorder = _record_dir(args.record, args.user or cfg.scan.get("user"))
        scanner = Scanner(options, policy=policy, wrap=RecordingTransport if recorder else None)

        def scan() -> ScanResult:  # progress runs where the scan runs (the unprivileged child, as root)
            if not progress.wanted(args.quiet):
                found = scanner.run()
            else:
                with progress.ScanProgress(options.deadline) as shown:
                    shown.scanner, scanner.progress = scanner, shown
                    found = scanner.run()
            if recorder is not None:  # written by the process that saw the answers
                scanner.transport.write(recorder, found)  # type: ignore[attr-defined]
            return found
        # Device replies are parsed only in an unprivileged child (camscan.privsep) when this process is root
        result = privsep.run(scan, user=args.user or cfg.scan.get("user"))
        if recorder is not None:
            _hand_back(recorder)
        if where is None:
            write_report(output, result, fmt, note=policy.note)
        else:
            with store.open(where) as inv:
                def deliver(stored: ScanResult) -> None:  # inside the store's transaction: no report, not stored
                    write_report(output, with_history(inv, stored), fmt, note=policy.note)
                # one transaction: the diff against the site's previous scan (on the site's first scan every
                # flagged device is new: the first cron run alerts), the scan, retention, then the report
                result = inv.record(result, site=site, note=policy.note, keep=keep, before_commit=deliver)
    devices = alerting(result, fail_on)
    if args.quiet:
        sys.stderr.write(notify.summary(result, devices, fail_on))
    else:
        sys.stderr.write(run_summary(result, where, output, not_stored="demo" if args.demo else "--no-db"))
    sys.stderr.flush()
    # after the scan is stored and the report written: a channel that fails loses nothing and changes no exit
    for failure in send.notify(cfg.notify, result, devices, fail_on):
        sys.stderr.write(f"camscan: error: {failure}\n")
    return EXIT_FINDINGS if devices else EXIT_CLEAN


def _record_dir(path: Path, user: str | None) -> Path:
    """The --record directory, created now (owner only), and handed to the unprivileged prober when there is one."""
    import os

    from camscan import privsep

    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if privsep.needs_separation() and os.geteuid() == 0:
            uid, gid = privsep.resolve_user(user)
            os.chown(path, uid, gid)
    except OSError as exc:
        raise RunError(f"cannot create the recording directory {path}: {exc.strerror or exc}") from None
    return path


def _hand_back(path: Path) -> None:
    """After the scan: the --record tree (written by the unprivileged prober, as ``nobody``) belongs to the user
    who ran camscan. Nothing is followed (a symbolic link the prober left is changed itself, never its target)
    and a file with a second hard link is left alone (it could be someone else's)."""
    import os
    import stat

    uid, gid = os.getuid(), os.getgid()
    if os.geteuid() != 0:
        return  # no prober of another user: the tree is ours already
    try:
        for top, dirs, files in os.walk(path, followlinks=False):
            for name in [*dirs, *files]:
                entry = os.path.join(top, name)
                st = os.lstat(entry)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    continue
                os.chown(entry, uid, gid, follow_symlinks=False)
        os.chown(path, uid, gid, follow_symlinks=False)
    except OSError as exc:
        raise RunError(f"cannot hand the recording {path} back to uid {uid}: {exc.strerror or exc}") from None


def cmd_replay(args) -> int:
    import contextlib

    from camscan import notify, privsep, store
    from camscan.policy import load_policy
    from camscan.replay import FolderError, load_folders, replay

    policy = load_policy(args.policy)
    args.format = report_format(args.format, args.output)
    if args.output:
        check_output(args.output)
    try:
        folders, _notes = load_folders(args.folders)  # read here: the prober may not be able to
    except (FolderError, OSError) as exc:
        raise UsageError(str(exc)) from None
    where = store.resolve(args.db, None) if args.db else None
    site = args.site or store.DEFAULT_SITE
    with store.run_lock(where, site, wait=args.lock_wait) if where else contextlib.nullcontext():
        if where:
            store.open(where).close()
        result = privsep.run(lambda: replay(folders, policy=policy), user=args.user)
        if where is None:
            write_report(args.output, result, args.format, note=policy.note)
        else:
            with store.open(where) as inv:
                def deliver(stored: ScanResult) -> None:
                    write_report(args.output, with_history(inv, stored), args.format, note=policy.note)
                result = inv.record(result, site=site, note=policy.note, before_commit=deliver)
    devices = alerting(result, args.fail_on)
    if args.quiet:  # as scan: the short summary of what the exit code is about, nothing when there is nothing
        sys.stderr.write(notify.summary(result, devices, args.fail_on))
    else:
        sys.stderr.write(run_summary(result, where, args.output,
                                     not_stored="replay writes no inventory without --db"))
    sys.stderr.flush()
    return EXIT_FINDINGS if devices else EXIT_CLEAN


def with_history(inv, result: ScanResult) -> ScanResult:
    """``result`` (a stored scan) with what the inventory knows around it, for the reports: the scans up to it
    (the HTML chart), first/last seen (CSV), the last known details of devices gone since the previous scan."""
    import dataclasses

    if result.scan_id is None:
        return result
    gone = [c.key for c in result.diff.of_kind(ChangeKind.GONE)] if result.diff else []
    return dataclasses.replace(result, history=inv.history(result.scan_id, gone))


def cmd_report(args) -> int:
    import dataclasses

    from camscan import serialize
    from camscan.report import sites

    with _open_reader(args) as inv:
        # no --site, no --scan: every site's latest scan (one site: its latest scan, as ever)
        found = inv.latest_reports() if args.scan is None and args.site is None else []
        if len(found) <= 1:
            one = inv.report(args.scan, site=args.site)
            if one is None:
                where = f" of site {args.site!r}" if args.site else ""
                if args.scan:  # an unknown scan id is a usage error (exit 2), as for camscan diff
                    raise UsageError(f"no scan {args.scan}{where} in {inv.location} (see 'camscan history')")
                raise RunError(f"no scans{where} stored in {inv.location}")
            found = [one]
        try:
            results = [(site, serialize.report_from_dict(data)) for _id, site, data in found]
        except ValueError as exc:
            raise RunError(f"stored scan cannot be read back: {exc}") from None
        if len(results) > 1:
            result = sites.combine(results)
        else:
            result = with_history(inv, results[0][1])  # one scan: the inventory's history around it
    if args.no_diff:
        result = dataclasses.replace(result, diff=None)
    write_report(args.output, result, report_format(args.format, args.output), note=found[0][2].get("legal_note") or "")
    return EXIT_CLEAN


def cmd_diff(args) -> int:
    """Two stored scans compared: the later one's report with the changes since the earlier one."""
    import dataclasses

    from camscan import config, serialize, store

    if len(args.scans) > 2:
        raise UsageError("camscan diff takes at most two scan ids")
    cfg = config.load(args.config) if args.config else config.Config()
    fmt = report_format(args.format, args.output, cfg.output.get("format"))
    with store.open(store.resolve(args.db, cfg.output.get("db")), readonly=True) as inv:
        ids = sorted(args.scans)
        if not ids:
            latest = inv.report(None, site=args.site)
            if latest is None:
                where = f" of site {args.site!r}" if args.site else ""
                raise RunError(f"no scans{where} stored in {inv.location}")
            ids = [latest[0]]
        if len(ids) == 1:
            earlier, later = inv.previous_id(ids[0]), ids[0]  # the predecessor within the scan's site
        else:
            earlier, later = ids
        reports, sites = {}, {}
        for scan_id in (earlier, later):
            found = inv.report(scan_id) if scan_id is not None else None
            if scan_id is not None and found is None:
                raise UsageError(f"no scan {scan_id} in {inv.location} (see 'camscan history')")
            reports[scan_id], sites[scan_id] = (found[2], found[1]) if found else (None, None)
        before = inv.sightings(earlier) if earlier is not None else {}
        later_history = inv.history(later)
    data = reports[later]
    if args.site and sites[later] != args.site:
        raise UsageError(f"scan {later} is of site {sites[later]!r}, not {args.site!r}")
    if earlier is not None and sites[earlier] != sites[later]:
        raise UsageError(f"scans {earlier} and {later} are of different sites ({sites[earlier]!r}, "
                         f"{sites[later]!r}): nothing to compare")
    try:
        result = serialize.report_from_dict(data)
    except ValueError as exc:
        raise RunError(f"stored scan cannot be read back: {exc}") from None
    started = (reports[earlier].get("scan") or {}).get("start") if earlier is not None else None
    changes = store.diff(before, result.devices, previous_scan=earlier, previous_started=started,
                         targets=result.targets, skips=result.skips)
    if earlier is None:  # nothing before it: every flagged device is new, as on a first scan
        changes = dataclasses.replace(changes, new_flagged=tuple(d.key for d in result.flagged))
    gone = {c.key: before[c.key] for c in changes.of_kind(ChangeKind.GONE) if c.key in before}
    result = dataclasses.replace(result, diff=changes,
                                 history=dataclasses.replace(later_history, last_known=gone))
    write_report(args.output, result, fmt, note=data.get("legal_note") or "")
    return EXIT_FINDINGS if alerting(result, FailOn.NEW) else EXIT_CLEAN


def cmd_history(args) -> int:
    from tabulate import tabulate

    with _open_reader(args) as inv:
        rows = inv.scans(site=args.site, limit=args.limit)
    if not rows:
        sys.stdout.write(f"No scans of site {args.site!r} stored.\n" if args.site else "No scans stored.\n")
        return EXIT_CLEAN
    sys.stdout.write(tabulate([[r.id, r.site, r.started, r.finished, ", ".join(r.targets), r.devices, r.flagged]
                               for r in rows], headers=["Scan", "Site", "Started (UTC)", "Finished (UTC)", "Targets",
                                                        "Devices", "Flagged"], tablefmt="simple") + "\n")
    return EXIT_CLEAN


def _where(args):
    """The inventory named by --db, $CAMSCAN_DB, the config's [output] db, or the default file."""
    from camscan import config, store

    cfg = config.load(args.config)
    return store.resolve(args.db, cfg.output.get("db"))


def _open_reader(args):
    from camscan import store

    return store.open(_where(args), readonly=True)


def cmd_db(args) -> int:
    from camscan import store

    with store.open(_where(args), migrate=False) as inv:
        before, after = inv.upgrade()
        location = inv.location
    if before == 0:
        sys.stdout.write(f"{location}: created at schema {after}\n")
    elif before == after:
        sys.stdout.write(f"{location}: schema {after}, up to date\n")
    else:
        sys.stdout.write(f"{location}: migrated from schema {before} to {after}\n")
    return EXIT_CLEAN


def cmd_config_check(args) -> int:
    from camscan import config
    from camscan.policy import load_policy

    cfg = config.load(args.config)
    load_policy(cfg.policy_files)
    from camscan import net
    net.parse_targets([str(t) for t in cfg.scan.get("targets", [])], allow_large=cfg.scan.get("allow_large", False))
    creds = "credentials: set (password hidden)" if cfg.credentials else "credentials: none"
    sys.stdout.write(f"{args.config}: OK ({creds}; {len(cfg.policy_files)} policy file(s))\n")
    return EXIT_CLEAN


def cmd_demo(args) -> int:
    from camscan.lab.demo import run_demo

    return run_demo(args.site_file, args.format, quiet=args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        from camscan.fsafe import restrict_umask

        restrict_umask()  # reports, the inventory and their directories: owner only
        args = parser.parse_args(argv)
        _setup_logging(args)
        if args.command == "scan":
            return cmd_scan(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "history":
            return cmd_history(args)
        if args.command == "diff":
            return cmd_diff(args)
        if args.command == "config":
            return cmd_config_check(args)
        if args.command == "db":
            return cmd_db(args)
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    except CamscanError as exc:
        print(f"camscan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("camscan: interrupted", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except BrokenPipeError:
        return EXIT_CANNOT_RUN


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
