"""The default deadline scales with the target (README "Deadline"): max(120, 5 x sweep + 4 x timeout + 2), the
sweep counted in packets at --rate. Pure arithmetic: no scan runs, no clock is read."""

from __future__ import annotations

import argparse
import ipaddress

import pytest

from camscan import cli
from camscan.config import Config
from camscan.discover.sweep import CAMERA_PORTS
from camscan.models import Interface
from camscan.scan import DEFAULT_DEADLINE, default_deadline, sweep_reserve, sweep_seconds

ETH0 = Interface("eth0", 2, (ipaddress.IPv4Interface("198.18.0.2/16"),), 0x1 | 0x2 | 0x1000)


def nets(*cidrs: str) -> list[ipaddress.IPv4Network]:
    return [ipaddress.ip_network(c) for c in cidrs]


def test_an_attached_slash_16_is_one_arp_request_per_address():
    assert sweep_seconds(nets("198.18.0.0/16"), [ETH0], 1000) == pytest.approx(65.534)
    # 5 x 65.534 s + the 14 s identification reserve of the defaults
    assert default_deadline(nets("198.18.0.0/16"), [ETH0], 1000, 3.0) == pytest.approx(5 * 65.534 + 14)


def test_small_targets_keep_the_fixed_default():
    assert default_deadline(nets("198.18.5.0/24"), [ETH0], 1000, 3.0) == DEFAULT_DEADLINE == 120.0
    assert default_deadline(nets("198.18.5.7/32"), [ETH0], 1000, 3.0) == DEFAULT_DEADLINE


def test_a_routed_target_costs_a_connect_per_camera_port():
    routed = nets("203.0.113.0/24")
    assert sweep_seconds(routed, [ETH0], 100) == pytest.approx(254 * len(CAMERA_PORTS) / 100)
    assert default_deadline(nets("203.0.112.0/20"), [ETH0], 1000, 3.0) == pytest.approx(
        5 * 4094 * len(CAMERA_PORTS) / 1000 + 14)


def test_no_targets_means_the_attached_subnets_and_rate_and_timeout_count():
    assert default_deadline([], [ETH0], 1000, 3.0) == default_deadline(nets("198.18.0.0/16"), [ETH0], 1000, 3.0)
    slower = default_deadline([], [ETH0], 500, 3.0)
    assert slower == pytest.approx(5 * 65534 / 500 + 14)
    assert default_deadline([], [ETH0], 1000, 10.0) == pytest.approx(5 * 65.534 + 42)


def test_the_reserve_for_identification_fits_in_the_scaled_deadline():
    d = default_deadline(nets("198.18.0.0/16"), [ETH0], 1000, 3.0)
    # the sweeps may run until the reserve starts: at least the sweep at a fifth of its rate
    assert d - sweep_reserve(d, 3.0) >= 5 * sweep_seconds(nets("198.18.0.0/16"), [ETH0], 1000)


def _options(argv: list[str], cfg: Config | None = None):
    args = cli.build_parser().parse_args(["scan", *argv])
    assert isinstance(args, argparse.Namespace)
    return cli.build_options(args, cfg or Config())


def test_the_cli_uses_the_formula_and_an_explicit_deadline_wins(monkeypatch):
    monkeypatch.setattr("camscan.net.list_interfaces", lambda: [ETH0])
    assert _options(["198.18.0.0/16"]).deadline == pytest.approx(5 * 65.534 + 14)
    assert _options(["198.18.0.0/16", "--rate", "2000"]).deadline == pytest.approx(5 * 32.767 + 14)
    assert _options(["198.18.0.0/16", "--deadline", "90"]).deadline == 90.0
    assert _options(["198.18.1.0/24"]).deadline == 120.0
    assert _options(["198.18.0.0/16"], Config(scan={"deadline": 200.0})).deadline == 200.0
