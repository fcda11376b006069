"""End-to-end fixtures: the shipped sites, each built once per module. Needs root and iproute2; skips with
the reason otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from siteutil import require_lab

from camscan.lab import Site, load_site


@pytest.fixture(scope="module")
def lab() -> None:
    """For a module that builds its own sites: skips with the reason when the lab cannot run here."""
    require_lab()


def _shipped_site(name: str) -> Iterator[Site]:
    require_lab()
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
