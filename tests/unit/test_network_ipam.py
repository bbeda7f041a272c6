"""IPAM: Docker's pools, subnet choice around networks and routes, addresses, MACs, uplinks."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.network.errors import (
    AddressExhausted,
    InvalidNetworkConfig,
    PoolExhausted,
    SubnetOverlap,
)
from dockerscope.engine.network.ipam import (
    check_requested_ip,
    choose_gateway,
    choose_subnet,
    default_pools,
    lowest_free,
    mac_for_ip,
    parse_subnet,
    pick_subnet,
    random_mac,
    uplink_subnet,
)

N = IPv4Network


def test_default_pools_order() -> None:
    pools = list(default_pools())
    assert pools[0] == N("172.17.0.0/16")
    assert pools[14] == N("172.31.0.0/16")
    assert pools[15] == N("192.168.0.0/20")
    assert pools[16] == N("192.168.16.0/20")
    assert pools[-1] == N("192.168.240.0/20")
    assert len(pools) == 15 + 16


def test_first_user_network_is_172_18_when_docker0_exists() -> None:
    assert pick_subnet([N("172.17.0.0/16")]) == N("172.18.0.0/16")


def test_pick_skips_overlapping_routes_but_not_default_route() -> None:
    taken = [N("172.17.0.0/16"), N("0.0.0.0/0"), N("172.18.5.0/24"), N("172.19.0.0/16")]
    assert pick_subnet(taken) == N("172.20.0.0/16")


def test_pick_moves_on_to_192_168_then_exhausts() -> None:
    taken = [N("172.16.0.0/12")]
    assert pick_subnet(taken) == N("192.168.0.0/20")
    with pytest.raises(PoolExhausted):
        pick_subnet([N("172.16.0.0/12"), N("192.168.0.0/16")])


def test_choose_subnet_requested_overlap_refused_with_dockers_words() -> None:
    with pytest.raises(SubnetOverlap) as err:
        choose_subnet("172.18.0.0/24", [N("172.17.0.0/16"), N("172.18.0.0/16")], [])
    assert str(err.value) == "Pool overlaps with other one on this address space"
    assert as_api_error(err.value).status == 400


def test_choose_subnet_requested_free_and_automatic_skips_routes() -> None:
    assert choose_subnet("10.5.0.0/16", [N("172.17.0.0/16")], []) == N("10.5.0.0/16")
    assert choose_subnet(None, [N("172.17.0.0/16")], [N("172.18.0.0/16")]) == N("172.19.0.0/16")


@pytest.mark.parametrize("bad", ["172.18.0.1/16", "nonsense", "172.18.0.0", "10.0.0.0/31"])
def test_parse_subnet_rejects(bad: str) -> None:
    with pytest.raises(InvalidNetworkConfig):
        parse_subnet(bad)


def test_gateway_default_and_checks() -> None:
    assert choose_gateway(N("172.18.0.0/16"), None) == IPv4Address("172.18.0.1")
    assert choose_gateway(N("10.1.0.0/24"), "10.1.0.254") == IPv4Address("10.1.0.254")
    for bad in ("10.2.0.1", "10.1.0.0", "10.1.0.255", "x"):
        with pytest.raises(InvalidNetworkConfig):
            choose_gateway(N("10.1.0.0/24"), bad)


def test_lowest_free_fills_holes_and_exhausts() -> None:
    sub = N("172.17.0.0/16")
    gw = IPv4Address("172.17.0.1")
    assert lowest_free(sub, [gw]) == IPv4Address("172.17.0.2")
    used = [gw, IPv4Address("172.17.0.2"), IPv4Address("172.17.0.4")]
    assert lowest_free(sub, used) == IPv4Address("172.17.0.3")
    small = N("10.0.0.0/30")
    with pytest.raises(AddressExhausted):
        lowest_free(small, [IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2")])


def test_requested_ip() -> None:
    sub = N("10.1.0.0/24")
    assert check_requested_ip(sub, "10.1.0.9", []) == IPv4Address("10.1.0.9")
    for bad in ("10.1.0.9", "10.2.0.1", "10.1.0.255"):
        with pytest.raises(InvalidNetworkConfig):
            check_requested_ip(sub, bad, [IPv4Address("10.1.0.9")])


def test_macs() -> None:
    assert mac_for_ip(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"
    mac = random_mac()
    assert mac.startswith("02:42:") and len(mac) == 17
    assert random_mac() != mac


def test_uplink_is_a_stable_cgnat_slash30_avoiding_routes() -> None:
    first = uplink_subnet("dockerscope", [])
    assert first.prefixlen == 30 and first.subnet_of(N("100.64.0.0/10"))
    assert uplink_subnet("dockerscope", []) == first
    second = uplink_subnet("dockerscope", [first, N("0.0.0.0/0")])
    assert second != first and not second.overlaps(first)
    with pytest.raises(PoolExhausted):
        uplink_subnet("x", [N("100.64.0.0/10")])


@pytest.mark.parametrize(
    "subnet", ["127.0.0.0/8", "127.5.0.0/16", "224.1.0.0/16", "169.254.0.0/16", "100.64.0.0/24"]
)
def test_special_ranges_are_refused_for_networks(subnet: str) -> None:
    with pytest.raises(InvalidNetworkConfig, match="overlaps"):
        choose_subnet(subnet, [], [])


def test_private_ranges_are_taken() -> None:
    assert str(choose_subnet("10.10.0.0/16", [], [])) == "10.10.0.0/16"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("com.docker.network.bridge.enable_icc", "false"),
        ("com.docker.network.bridge.enable_ip_masquerade", "false"),
        ("com.docker.network.driver.mtu", "1400"),
    ],
)
def test_driver_options_are_refused_not_ignored(key: str, value: str) -> None:
    from dockerscope.engine.network.networks import check_driver_options

    with pytest.raises(InvalidNetworkConfig, match=f"not supported by dockerscope: .*{key}"):
        check_driver_options({key: value})
    check_driver_options({key: {"false": "true", "1400": "1500"}[value]})  # the default is fine
    check_driver_options({"com.docker.network.bridge.name": "br-course"})
