"""Reading create bodies: what the docker CLI sends is accepted; unsupported flags are refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dockerscope.engine.api.errors import as_api_error
from dockerscope.engine.containers.create_request import check_name, merge_env, parse_create
from dockerscope.engine.errors import InvalidArgument, NotSupported

# What docker CLI 28 sends for `docker run -d --name web -p 8080:8080 -m 64m busybox sleep 9`
CLI_BODY: dict[str, Any] = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "ExposedPorts": {"8080/tcp": {}},
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": [],
    "Cmd": ["sleep", "9"],
    "Image": "busybox",
    "Volumes": {},
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": {},
    "HostConfig": {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [45, 180],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 67108864,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": -1,
        "OomKillDisable": False,
        "PidsLimit": 0,
        "Ulimits": [],
        "CpuCount": 0,
        "CpuPercent": 0,
        "Mounts": None,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
        "Init": None,
    },
    "NetworkingConfig": {"EndpointsConfig": {"default": {}}},
}


def test_cli_body_is_accepted_with_its_values() -> None:
    req = parse_create(CLI_BODY, "web")
    assert req.name == "web"
    assert req.config.cmd == ("sleep", "9")
    assert req.config.image == "busybox"
    assert req.config.exposed_ports == ("8080/tcp",)
    assert req.host.memory == 64 * 1024 * 1024
    assert req.host.port_bindings == (("8080/tcp", (("", "8080"),)),)
    assert req.host.pids_limit is None
    assert req.host.console_size == (45, 180)
    assert req.host.network_mode == "default"


@pytest.mark.parametrize(
    "key,value,flag",
    [
        ("Privileged", True, "--privileged"),
        ("CapAdd", ["NET_ADMIN"], "--cap-add"),
        ("Devices", [{"PathOnHost": "/dev/kvm"}], "--device"),
        ("RestartPolicy", {"Name": "always"}, "--restart always"),
        ("LogConfig", {"Type": "syslog"}, "--log-driver syslog"),
        ("Mounts", [{"Type": "volume"}], "--mount"),
        ("Binds", ["data:/data"], "named volumes"),
        ("SomethingNew", {"x": 1}, "HostConfig.SomethingNew"),
    ],
)
def test_unsupported_host_config_is_refused_with_the_flag(key: str, value: Any, flag: str) -> None:
    body = copy.deepcopy(CLI_BODY)
    body["HostConfig"][key] = value
    with pytest.raises(NotSupported) as info:
        parse_create(body)
    assert as_api_error(info.value).status == 400
    assert info.value.message.startswith("not supported by dockerscope: ")
    assert flag in info.value.message


def test_network_container_mode_is_accepted_without_ports() -> None:
    body = copy.deepcopy(CLI_BODY)
    body["HostConfig"]["NetworkMode"] = "container:web"
    body["HostConfig"]["PortBindings"] = {}
    body["HostConfig"]["PublishAllPorts"] = False
    assert parse_create(body).host.network_mode == "container:web"
    body["HostConfig"]["PortBindings"] = {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    with pytest.raises(InvalidArgument, match="port publishing and the container type"):
        parse_create(body)


def test_anonymous_volumes_and_healthchecks_are_refused() -> None:
    with pytest.raises(NotSupported, match="anonymous volumes"):
        parse_create({"Image": "busybox", "Volumes": {"/data": {}}})
    with pytest.raises(NotSupported, match="--health-cmd"):
        parse_create({"Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"]}})


@pytest.mark.parametrize(
    "body,message",
    [
        ([], "must be a JSON object"),
        ({}, "Image is required"),
        ({"Image": "busybox", "Cmd": 3}, "Cmd must be a list of strings"),
        ({"Image": "busybox", "Env": ["=x"]}, "invalid environment variable"),
        ({"Image": "busybox", "Tty": "yes"}, "Tty must be true or false"),
        ({"Image": "busybox", "WorkingDir": "rel"}, "needs to be an absolute path"),
        ({"Image": "busybox", "ExposedPorts": {"http": {}}}, "invalid port"),
        ({"Image": "busybox", "HostConfig": {"Memory": 1000}}, "Minimum memory limit"),
        ({"Image": "busybox", "HostConfig": {"Binds": ["/a"]}}, "invalid volume"),
    ],
)
def test_malformed_bodies_are_clear_400s(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_create(body)


def test_names() -> None:
    assert check_name("/web") == "web"
    assert check_name("my_app.1") == "my_app.1"
    for bad in ("x", "-web", "we b", "a/b"):
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            check_name(bad)


def test_binds_and_ports_are_read() -> None:
    req = parse_create(
        {
            "Image": "busybox",
            "HostConfig": {
                "Binds": ["/srv:/data:ro"],
                "PortBindings": {"80": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
                "PublishAllPorts": True,
                "NanoCpus": 500_000_000,
                "PidsLimit": 20,
                "AutoRemove": True,
            },
        }
    )
    assert req.host.binds == ("/srv:/data:ro",)
    assert req.host.port_bindings == (("80/tcp", (("127.0.0.1", ""),)),)
    assert req.host.publish_all_ports and req.host.auto_remove
    assert (req.host.nano_cpus, req.host.pids_limit) == (500_000_000, 20)


def test_env_merge_keeps_image_order_and_overrides() -> None:
    assert merge_env(("PATH=/bin", "A=1"), ("A=2", "B=3")) == ("PATH=/bin", "A=2", "B=3")


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"PortBindings": {"80/tcp": 1}}, "must be a list"),
        ({"PortBindings": {"80/tcp": [{"HostIp": "localhost", "HostPort": "8080"}]}}, "localhost"),
        ({"PortBindings": {"80/tcp": [{"HostIp": "1.2.3", "HostPort": "8080"}]}}, "1.2.3"),
        ({"PortBindings": {"80/tcp": [{"HostIp": "224.0.0.1", "HostPort": "80"}]}}, "unicast"),
        ({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "٨٠"}]}}, "invalid host port"),
        ({"NanoCpus": 1}, "Range of CPUs"),
        ({"Memory": 10**30}, "out of range"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(host: dict, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_create({"Image": "busybox", "HostConfig": host})
    assert message in str(err.value)


def test_host_ip_is_kept_in_its_canonical_form() -> None:
    body = {
        "Image": "busybox",
        "HostConfig": {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}},
    }
    assert parse_create(body).host.port_bindings[0][1] == (("127.0.0.1", "8080"),)
