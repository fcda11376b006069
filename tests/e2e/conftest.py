"""End-to-end fixtures: the shipped test site, built once per module. Needs root and iproute2; skips with
the reason otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from camscan.lab import LabUnavailable, Site, cleanup_stale, load_site
from camscan.lab.netns import check_available


@pytest.fixture(scope="module")
def test_site() -> Iterator[Site]:
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    with load_site("test") as site:
        yield site




@pytest.fixture(scope="module")
def vendors_site() -> Iterator[Site]:
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    with load_site("vendors") as site:
        yield site
