"""Errors camscan raises to its caller.

Expected per-device failures (timeouts, refusals, bad credentials, broken replies) are never exceptions
that end a scan: they become :class:`camscan.models.Skip` values. These classes are for conditions that
stop the run as a whole, and each maps to one exit code in ``cli.py``::

    CamscanError                  base; never raised itself
    ├── UsageError                exit 2: bad option, malformed target, unknown interface name
    └── RunError                  exit 3: could not run
        ├── ConfigError           unreadable/invalid config or policy file, world-readable credentials
        ├── DataError             a packaged data file (rules, policy, WSDL) failed validation
        ├── NoInterfaceError      no usable interface to scan from
        ├── PermissionDenied      an operation needs privileges the process does not have
        └── StoreError            inventory database locked, corrupt or not writable

Codecs raise nothing: a parser given hostile bytes returns ``None`` or a reason (see ``discover/wsd.py``).
"""

from __future__ import annotations


class CamscanError(Exception):
    """Base of all errors that end a camscan run."""

    exit_code = 3


class UsageError(CamscanError):
    """The user asked for something malformed: the command line cannot be acted on."""

    exit_code = 2


class RunError(CamscanError):
    """The scan could not run (environment, permissions, configuration, data)."""

    exit_code = 3


class ConfigError(RunError):
    """A configuration or policy file is unreadable, invalid or unsafe."""


class DataError(RunError):
    """A packaged data file (rules, policy, WSDL) is missing or invalid."""


class NoInterfaceError(RunError):
    """No network interface is usable for the scan."""


class PermissionDenied(RunError):
    """The process lacks a privilege the requested operation needs."""


class StoreError(RunError):
    """The inventory store is locked, corrupt or not writable."""
