"""Output like the docker CLI: durations, sizes, ports, and the ps/images/network tables."""

from __future__ import annotations

import pytest

from dockerscope.client import formatting as fmt
from tests.unit.test_client_fakeserver import CONTAINERS, IMAGES, NETWORKS, NOW


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Less than a second"),
        (0.9, "Less than a second"),
        (1, "1 second"),
        (3, "3 seconds"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (59 * 60, "59 minutes"),
        (60 * 60, "About an hour"),
        (90 * 60, "2 hours"),
        (47 * 3600, "47 hours"),
        (48 * 3600, "2 days"),
        (14 * 86400, "2 weeks"),
        (60 * 86400, "2 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds, text) -> None:
    assert fmt.human_duration(seconds) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (999, "999B"),
        (1984132, "1.98MB"),
        (1240000, "1.24MB"),
        (5_600_000_000, "5.6GB"),
        (1000, "1kB"),
    ],
)
def test_image_size(size, text) -> None:
    assert fmt.image_size(size) == text


def test_human_and_binary_sizes() -> None:
    assert fmt.human_size(1984132) == "1.984MB"
    assert fmt.bytes_size(25276063744) == "23.54GiB"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 2**20),
        ("1g", 2**30),
        ("100k", 102400),
        ("1024b", 1024),
        ("64MB", 64 * 2**20),
        ("1.5G", 3 * 2**29),
        ("4096", 4096),
    ],
)
def test_parse_ram(text, size) -> None:
    assert fmt.parse_ram(text) == size


def test_parse_ram_refuses_garbage() -> None:
    with pytest.raises(ValueError):
        fmt.parse_ram("lots")


def test_ports_both_families_and_ranges() -> None:
    ports = [
        {"IP": "::", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 8080, "Type": "tcp"},
    ]
    assert fmt.display_ports(ports) == "0.0.0.0:8080->8080/tcp, :::8080->8080/tcp"
    assert (
        fmt.display_ports([{"PrivatePort": 80, "Type": "tcp"}, {"PrivatePort": 81, "Type": "tcp"}])
        == "80-81/tcp"
    )
    assert (
        fmt.display_ports(
            [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"}]
        )
        == "0.0.0.0:32768->80/tcp"
    )
    assert fmt.display_ports([]) == ""


def test_command_quoted_and_cut_like_docker() -> None:
    assert fmt.go_quote('a "b"\n') == '"a \\"b\\"\\n"'
    assert fmt.ellipsis("sh -c 'while true; do echo hello", 20) == "sh -c 'while true; \u2026"


# What docker CLI 20.10 (Debian 12) printed for the same canned answers (test_client_fakeserver).
PS_A = """\
CONTAINER ID   IMAGE           COMMAND                  CREATED         STATUS                   PORTS                                       NAMES
1e04fc43caf0   busybox:local   "sleep 600"              3 seconds ago   Up 2 seconds             0.0.0.0:8080->8080/tcp, :::8080->8080/tcp   web
42452cb1e3fc   busybox         "sh -c 'while true; \u2026"   3 hours ago     Exited (0) 2 hours ago                                               quizzical_hopper
"""  # noqa: E501

IMAGES_OUT = """\
REPOSITORY   TAG       IMAGE ID       CREATED          SIZE
alpine       3.10      92452fce0bd2   20 minutes ago   1.98MB
busybox      local     92452fce0bd2   20 minutes ago   1.98MB
"""

NETWORK_LS = """\
NETWORK ID     NAME             DRIVER    SCOPE
c04a2366faa4   bridge           bridge    local
f1edce28894a   host             host      local
41bf348c9240   my-new-network   bridge    local
8784077176a0   none             null      local
"""


def test_ps_table_matches_docker() -> None:
    assert fmt.ps_table(CONTAINERS, now=NOW) == PS_A


def test_images_table_matches_docker() -> None:
    assert fmt.images_table(IMAGES, now=NOW) == IMAGES_OUT


def test_network_table_matches_docker_sorted_by_name() -> None:
    assert fmt.networks_table(NETWORKS) == NETWORK_LS


def test_table_min_width_and_last_column_unpadded() -> None:
    assert fmt.table([["A", "B"], ["x", "yy"]]) == "A         B\nx         yy\n"


def test_untagged_image_row() -> None:
    out = fmt.images_table(
        [{"Id": "sha256:" + "ab" * 32, "Created": NOW, "Size": 10, "RepoTags": None}], now=NOW
    )
    assert out.splitlines()[1].split() == [
        "<none>",
        "<none>",
        "ab" * 6,
        "Less",
        "than",
        "a",
        "second",
        "ago",
        "10B",
    ]


def test_port_lines_and_one_port() -> None:
    ports = {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}
    assert fmt.port_lines(ports) == "8080/tcp -> 0.0.0.0:8080\n"
    assert fmt.port_lines(ports, "8080") == "0.0.0.0:8080\n"


def test_template_subset() -> None:
    obj = {"State": {"Status": "running", "Running": True}, "Config": {"Env": ["A=1"]}}
    assert fmt.render_template("{{.State.Status}} {{ .State.Running }}", obj) == "running true"
    assert fmt.render_template("{{json .Config.Env}}", obj) == '["A=1"]'
    assert fmt.render_template("{{.Nope}}", obj) == "<no value>"


def test_event_line_shape() -> None:
    line = fmt.event_line(
        {
            "Type": "container",
            "Action": "start",
            "timeNano": 1_700_000_000_5,
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "bb"}},
        }
    )
    assert line.endswith(" container start abc (image=bb, name=web)")


def test_ps_format_fields_and_table_like_docker() -> None:
    # the docker CLI printed these for the same canned answers
    rows = [fmt.ps_fields(c, NOW) for c in CONTAINERS]
    assert fmt.render_rows("{{.Names}}", rows, fmt.PS_HEADERS) == "web\nquizzical_hopper\n"
    assert fmt.render_rows("table {{.ID}}\\t{{.Names}}\\t{{.Status}}", rows, fmt.PS_HEADERS) == (
        "CONTAINER ID   NAMES              STATUS\n"
        "1e04fc43caf0   web                Up 2 seconds\n"
        "42452cb1e3fc   quizzical_hopper   Exited (0) 2 hours ago\n"
    )
    assert fmt.render_rows("{{.ID}} {{.State}} {{.Command}}", rows[1:], fmt.PS_HEADERS) == (
        '42452cb1e3fc exited "sh -c \'while true; \u2026"\n'
    )


def test_images_and_network_format() -> None:
    rows = [r for img in IMAGES for r in fmt.image_fields(img, NOW)]
    out = fmt.render_rows("table {{.Repository}}\t{{.Tag}}\t{{.Size}}", rows, fmt.IMAGE_HEADERS)
    assert out == (
        "REPOSITORY   TAG       SIZE\nalpine       3.10      1.98MB\n"
        "busybox      local     1.98MB\n"
    )
    nets = [fmt.network_fields(n) for n in NETWORKS[:1]]
    assert fmt.render_rows("{{.Name}} {{.IPv6}}", nets, fmt.NETWORK_HEADERS) == "none false\n"
