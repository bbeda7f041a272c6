"""Event sources: netlink batches (over a socketpair), directory watching, ticks."""

from __future__ import annotations

import asyncio
import socket
import struct

from dockerscope.kernel.events import dir_events, message_types, netlink_events, ticks


def _nlmsg(mtype: int, payload: bytes = b"\0" * 4) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), mtype, 0, 0, 0) + payload


def test_message_types():
    assert message_types(_nlmsg(16) + _nlmsg(0xA00, b"\0" * 6)) == [16, 0xA00]
    assert message_types(b"\x01\x02") == []


async def test_netlink_events_batches_and_stops():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    stop = asyncio.Event()
    got = []

    async def consume():
        async for types in netlink_events(a, stop):
            got.append(types)
            if len(got) == 1:
                stop.set()

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.01)
    b.send(_nlmsg(16))
    b.send(_nlmsg(20))
    await asyncio.wait_for(task, 5)
    assert got and 16 in got[0]
    a.close()
    b.close()


async def test_dir_events(tmp_path):
    stop = asyncio.Event()
    seen: list[set[str]] = []

    async def consume():
        async for changed in dir_events([tmp_path, tmp_path / "absent"], stop):
            seen.append(changed)
            stop.set()

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.3)
    (tmp_path / "newns").write_text("")
    await asyncio.wait_for(task, 10)
    assert any(str(tmp_path / "newns") in s for s in seen)


async def test_dir_events_nothing_to_watch(tmp_path):
    stop = asyncio.Event()
    stop.set()
    assert [x async for x in dir_events([tmp_path / "absent"], stop)] == []


async def test_ticks_stop():
    stop = asyncio.Event()
    n = 0
    async for _ in ticks(0.01, stop):
        n += 1
        if n == 3:
            stop.set()
    assert n == 3
