"""Docker 20.10's networking inside the lab host: bridges, IPAM, veths, iptables, ports.

Public surface: :class:`LabHost` (the lab netns, its uplink, docker0 and base chains) and
:class:`NetworkManager` (networks, container sandboxes, endpoints, published ports).
"""

from dockerscope.engine.network.errors import (
    AddressExhausted,
    AlreadyAttached,
    EndpointNotFound,
    InvalidNetworkConfig,
    KernelCommandFailed,
    NetworkError,
    NetworkExists,
    NetworkInUse,
    NetworkNotFound,
    PoolExhausted,
    PortAllocated,
    PredefinedNetwork,
    SubnetOverlap,
)
from dockerscope.engine.network.etcfiles import (
    hostname_content,
    hosts_file_content,
    resolv_conf_content,
)
from dockerscope.engine.network.labhost import LabHost, Uplink, uplink_name
from dockerscope.engine.network.manager import NetworkManager
from dockerscope.engine.network.model import Endpoint, Network, Sandbox
from dockerscope.engine.network.ports import (
    PortBinding,
    PortMapping,
    bindings_from_json,
    bindings_to_json,
    parse_publish,
    ports_json,
    publish_all,
)
from dockerscope.engine.network.proxy import PortProxy

__all__ = [
    "AddressExhausted",
    "AlreadyAttached",
    "Endpoint",
    "EndpointNotFound",
    "InvalidNetworkConfig",
    "KernelCommandFailed",
    "LabHost",
    "Network",
    "NetworkError",
    "NetworkExists",
    "NetworkInUse",
    "NetworkManager",
    "NetworkNotFound",
    "PoolExhausted",
    "PortAllocated",
    "PortBinding",
    "PortMapping",
    "PortProxy",
    "PredefinedNetwork",
    "Sandbox",
    "SubnetOverlap",
    "Uplink",
    "bindings_from_json",
    "bindings_to_json",
    "hostname_content",
    "hosts_file_content",
    "parse_publish",
    "ports_json",
    "publish_all",
    "resolv_conf_content",
    "uplink_name",
]
