"""End-to-end fixtures: the shipped sites, each built once per module. Needs root and iproute2; skips with
the reason otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from camscan.lab import LabUnavailable, Site, cleanup_stale, load_site
from camscan.lab.netns import check_available


def _shipped_site(name: str) -> Iterator[Site]:
    try:
        check_available()
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    cleanup_stale()
    with load_site(name) as site:
        yield site


@pytest.fixture(scope="module")
def test_site() -> Iterator[Site]:
    yield from _shipped_site("test")


@pytest.fixture(scope="module")
def vendors_site() -> Iterator[Site]:
    yield from _shipped_site("vendors")


@pytest.fixture(scope="module")
def telecom_site() -> Iterator[Site]:
    yield from _shipped_site("telecom")


@pytest.fixture(scope="module")
def defaults_site() -> Iterator[Site]:
    yield from _shipped_site("defaults")


@pytest.fixture(scope="module")
def recorders_site() -> Iterator[Site]:
    yield from _shipped_site("recorders")
