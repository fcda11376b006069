"""The emulated site: fake cameras in Linux network namespaces, speaking the real protocols.

Shared by ``camscan demo``, the end-to-end tests and the benchmark::

    from camscan.lab import load_site, cleanup_stale, LabUnavailable

    cleanup_stale()                      # namespaces left by a crashed run
    with load_site("test") as site:      # builds namespaces, starts the device server
        result = site.exec(["camscan", "scan", "--format", "json"], timeout=60)
        log = site.request_log()

Profiles (``profiles/*.toml``) describe device types; sites (``sites/*.toml``) place devices.
"""

from __future__ import annotations

from camscan.lab.netns import LabDevice, LabError, LabUnavailable, Site, cleanup_stale, load_site
from camscan.lab.sitefile import (
    DeviceSpec,
    SiteFileError,
    SiteSpec,
    generate_site,
    load_profile,
    load_site_spec,
    profile_names,
    site_names,
)

__all__ = [
    "DeviceSpec",
    "LabDevice",
    "LabError",
    "LabUnavailable",
    "Site",
    "SiteFileError",
    "SiteSpec",
    "cleanup_stale",
    "generate_site",
    "load_profile",
    "load_site",
    "load_site_spec",
    "profile_names",
    "site_names",
]
