"""Packets you can watch: capture on any interface of any netns, decode, link, save.

``capture`` opens AF_PACKET sockets inside a network namespace with a kernel-side BPF filter
(``bpf``); ``decode`` turns frames into ``records``; ``linking`` ties together the same packet
seen at several places (across a veth, across a NAT); ``pcapng`` writes what was captured in a
form tcpdump and Wireshark read; ``text`` prints a packet on one line.
"""
