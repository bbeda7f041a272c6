"""The netlink numbers dockerscope speaks, under the kernel's own names.

One table for the observer's decoders (netlink.py, conntrack.py, events.py) and the engine's
link maker (engine/network/rawlink.py). Names and values are those of the kernel's uapi headers
(linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/net_namespace.h,
linux/netfilter/nfnetlink*.h, linux/netfilter/nf_tables.h, linux/veth.h, linux/if.h), which
pyroute2 uses too; only the ones dockerscope reads or writes are listed.
"""

from __future__ import annotations

# -- linux/netlink.h: protocols, message types, flags, attribute header ----------------------
NETLINK_ROUTE = 0
NETLINK_NETFILTER = 12

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_EXCL = 0x200  # (new requests) the same bit as NLM_F_MATCH
NLM_F_CREATE = 0x400

NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

# -- linux/rtnetlink.h: message types, multicast groups, route fields -------------------------
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTM_NEWNSID, RTM_DELNSID, RTM_GETNSID = 88, 89, 90
RTM_NEWSTATS, RTM_GETSTATS = 92, 94

RTNLGRP_LINK = 1
RTNLGRP_NEIGH = 3
RTNLGRP_IPV4_IFADDR = 5
RTNLGRP_IPV4_ROUTE = 7

RTA_DST = 1
RTA_SRC = 2
RTA_IIF = 3
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_TABLE = 15

RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1

RTEXT_FILTER_SKIP_STATS = 1 << 3

# -- linux/if_link.h: link attributes ---------------------------------------------------------
IFLA_ADDRESS = 1
IFLA_BROADCAST = 2
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_STATS = 7
IFLA_MASTER = 10
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_STATS64 = 23
IFLA_AF_SPEC = 26
IFLA_NET_NS_FD = 28
IFLA_EXT_MASK = 29
IFLA_LINK_NETNSID = 37

IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2

IFLA_BR_STP_STATE = 5
IFLA_BR_PRIORITY = 6
IFLA_BR_BRIDGE_ID = 11

IFLA_STATS_LINK_64 = 1
IFLA_STATS_FILTER_BIT_LINK_64 = 1 << (IFLA_STATS_LINK_64 - 1)

#: RFC 2863 operational states, indexed by IF_OPER_* value
IF_OPER_STATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
IF_OPER_UP = 6

# -- linux/veth.h, linux/if.h, linux/if_arp.h -------------------------------------------------
VETH_INFO_PEER = 1
IFF_UP = 0x1
ARPHRD_LOOPBACK = 772

# -- linux/if_addr.h: address attributes ------------------------------------------------------
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4

# -- linux/net_namespace.h --------------------------------------------------------------------
NETNSA_NSID = 1
NETNSA_FD = 3

# -- linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h ---------------------------------------
NFNL_SUBSYS_CTNETLINK = 1
NFNL_SUBSYS_NFTABLES = 10
NFNLGRP_CONNTRACK_NEW = 1
NFNLGRP_CONNTRACK_DESTROY = 3
NFNLGRP_NFTABLES = 7

IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_GET = 0, 1

CTA_TUPLE_ORIG = 1
CTA_TUPLE_REPLY = 2
CTA_PROTOINFO = 4
CTA_COUNTERS_ORIG = 9
CTA_COUNTERS_REPLY = 10
CTA_TUPLE_IP = 1
CTA_TUPLE_PROTO = 2
CTA_IP_V4_SRC, CTA_IP_V4_DST, CTA_IP_V6_SRC, CTA_IP_V6_DST = 1, 2, 3, 4
CTA_PROTO_NUM = 1
CTA_PROTO_SRC_PORT = 2
CTA_PROTO_DST_PORT = 3
CTA_PROTO_ICMP_ID = 4
CTA_PROTOINFO_TCP = 1
CTA_PROTOINFO_TCP_STATE = 1
CTA_COUNTERS_PACKETS = 1
CTA_COUNTERS_BYTES = 2

# -- linux/netfilter.h, linux/netfilter/nf_tables.h -------------------------------------------
NFPROTO_UNSPEC = 0
NFPROTO_IPV4 = 2

NFT_MSG_NEWTABLE, NFT_MSG_GETTABLE = 0, 1
NFT_MSG_NEWRULE, NFT_MSG_GETRULE = 6, 7
NFT_MSG_NEWGEN, NFT_MSG_GETGEN = 15, 16

NFTA_TABLE_NAME = 1
NFTA_GEN_ID = 1
NFTA_RULE_TABLE = 1
NFTA_RULE_CHAIN = 2
NFTA_RULE_HANDLE = 3
NFTA_RULE_EXPRESSIONS = 4
NFTA_LIST_ELEM = 1
NFTA_EXPR_NAME = 1
NFTA_EXPR_DATA = 2
NFTA_COUNTER_BYTES = 1
NFTA_COUNTER_PACKETS = 2

# -- linux/socket.h, linux/netlink.h: socket options ------------------------------------------
SOL_NETLINK = 270
NETLINK_GET_STRICT_CHK = 12
