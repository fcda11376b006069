"""Command line: parse, build options, run the Scanner, pick a format, map the result to an exit code.

This is the only module that prints (besides report renderers, which return strings) and the only one that
exits. Exit codes are a contract for cron (README): 0 nothing flagged, 1 at least one device ``sanctioned`` or
``review``, 2 usage error, 3 could not run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from camscan import __version__
from camscan.errors import CamscanError, RunError, UsageError
from camscan.models import ScanOptions, ScanResult
from camscan.report import OutputFormat, render

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_CANNOT_RUN = 0, 1, 2, 3
log = logging.getLogger("camscan")


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so every exit goes through main()."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="camscan", description="Find network cameras and recorders, identify who really made "
                                            "them, and flag hardware from sanctioned vendors.")
    p.add_argument("--version", action="version", version=f"camscan {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr (-vv: debug)")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    s = sub.add_parser("scan", help="scan targets or the attached subnets and report devices")
    s.add_argument("targets", nargs="*", metavar="TARGET",
                   help="IPv4 address, CIDR (198.51.100.0/24) or range (198.51.100.10-40); default: the "
                        "subnets of the up, multicast-capable, non-loopback interfaces")
    s.add_argument("-i", "--interface", action="append", default=[], metavar="NAME",
                   help="interface to scan from (repeatable; default: all usable)")
    s.add_argument("--format", type=OutputFormat, choices=list(OutputFormat), default=None,
                   help="report format (default: table)")
    s.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="write the report to FILE (atomically, only after the scan succeeded)")
    s.add_argument("--timeout", type=_positive, default=None, metavar="S", help="per network call (default 3)")
    s.add_argument("--deadline", type=_positive, default=None, metavar="S",
                   help="whole-scan deadline; a scan that hits it still reports (default 120)")
    s.add_argument("--wsd-wait", type=float, default=None, metavar="S",
                   help="extra WS-Discovery collection time for slow sites (default 0)")
    s.add_argument("--rate", type=_positive, default=None, metavar="PPS",
                   help="directed probes per second (default 1000)")
    s.add_argument("--allow-large", action="store_true",
                   help="allow targets of more than 65536 addresses")
    s.add_argument("--config", type=Path, metavar="FILE", help="TOML config file (targets, credentials, ...)")
    s.add_argument("--policy", type=Path, action="append", default=[], metavar="FILE",
                   help="site policy file to apply on top of the default (repeatable)")

    d = sub.add_parser("demo", help="build an emulated site in network namespaces, scan it, tear it down "
                                    "(root, Linux)")
    d.add_argument("--format", type=OutputFormat, choices=list(OutputFormat), default=OutputFormat.TABLE)
    d.add_argument("--site", default="demo", help="site name under camscan/lab/sites or a path (default demo)")
    return p


def _setup_logging(args) -> None:
    level = logging.ERROR if args.quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, stream=sys.stderr, format="camscan: %(levelname)s: %(message)s")
    # third-party libraries speak at debug only when asked twice
    for noisy in ("zeep", "urllib3", "scapy"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def build_options(args, cfg) -> ScanOptions:
    from camscan import net

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
        timeout=float(pick("timeout", 3.0)),
        deadline=float(pick("deadline", 120.0)),
        wsd_wait=float(pick("wsd_wait", 0.0)),
        rate=float(pick("rate", 1000.0)),
        workers=int(scan_cfg.get("workers", 16)),
    )


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename, so a failed or
    killed run never leaves a half-written report where the last good one was."""
    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as exc:
        raise RunError(f"cannot write report {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise RunError(f"cannot write report {path}: {exc.strerror}") from None


def exit_code(result: ScanResult) -> int:
    return EXIT_FINDINGS if result.flagged else EXIT_CLEAN


def cmd_scan(args) -> int:
    from camscan import config
    from camscan.policy import load_policy
    from camscan.scan import Scanner

    cfg = config.load(args.config)
    options = build_options(args, cfg)
    policy = load_policy([*cfg.policy_files, *args.policy])
    fmt = args.format or OutputFormat(cfg.output.get("format", "table"))
    output = args.output or (Path(cfg.output["file"]) if cfg.output.get("file") else None)
    if not options.targets:
        log.warning("no targets given: scanning %s on %s",
                    ", ".join(str(n) for n in options.scope), ", ".join(i.name for i in options.interfaces))
    result = Scanner(options, policy=policy).run()
    text = render(result, fmt, note=policy.note or None) if policy.note else render(result, fmt)
    if output:
        write_atomic(output, text)
    else:
        sys.stdout.write(text)
    return exit_code(result)


def cmd_demo(args) -> int:
    from camscan.lab.demo import run_demo

    return run_demo(args.site, args.format)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _setup_logging(args)
        if args.command == "scan":
            return cmd_scan(args)
        if args.command == "demo":
            return cmd_demo(args)
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
