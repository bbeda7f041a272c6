"""json-file logs: one {"log","stream","time"} object per line, read back like docker logs."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from dockerscope.engine.containers.logconfig import LogConfig, parse_log_config, parse_size
from dockerscope.engine.containers.logread import LogFilter, LogReader, read_log
from dockerscope.engine.containers.logs import (
    LAG_FILES,
    PARTIAL_MAX,
    JsonLogWriter,
    LogLine,
    LogWatch,
    log_files,
    parse_iso,
)
from dockerscope.engine.containers.subscribers import OutputQueue
from dockerscope.engine.errors import InvalidArgument, NotSupported


def test_lines_are_split_buffered_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", b"oops\n")
    assert [(x.stream, x.data) for x in read_log(path)] == [
        ("stdout", b"hello\n"),
        ("stderr", b"oops\n"),
    ]
    w.close()  # the unterminated "wor" is written at the end
    objs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(o["stream"], o["log"]) for o in objs] == [
        ("stdout", "hello\n"),
        ("stderr", "oops\n"),
        ("stdout", "wor"),
    ]
    assert objs[0]["time"].endswith("Z") and "T" in objs[0]["time"]
    assert set(objs[0]) == {"log", "stream", "time"}


def test_read_log_filters_streams_tail_and_times(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    rows = [
        {"log": "a\n", "stream": "stdout", "time": "2026-01-01T00:00:01.000000000Z"},
        {"log": "b\n", "stream": "stderr", "time": "2026-01-01T00:00:02.000000000Z"},
        {"log": "c\n", "stream": "stdout", "time": "2026-01-01T00:00:03.500000000Z"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"log": "cut')
    assert [x.data for x in read_log(path)] == [b"a\n", b"b\n", b"c\n"]
    assert [x.data for x in read_log(path, stderr=False)] == [b"a\n", b"c\n"]
    assert [x.data for x in read_log(path, tail=1)] == [b"c\n"]
    assert [x.data for x in read_log(path, tail=0)] == []
    t2 = parse_iso("2026-01-01T00:00:02Z")
    assert [x.data for x in read_log(path, since=t2)] == [b"b\n", b"c\n"]
    assert [x.data for x in read_log(path, until=t2)] == [b"a\n", b"b\n"]
    assert parse_iso("2026-01-01T00:00:03.5Z") - parse_iso("2026-01-01T00:00:03Z") == 0.5


def test_tail_reads_from_the_end_and_agrees_with_a_full_read(tmp_path: Path) -> None:
    import random

    rng = random.Random(7)
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path)
    for i in range(3000):
        w.write(rng.choice(["stdout", "stderr"]), f"line {i} {'x' * rng.randrange(300)}\n".encode())
    w.close()
    with open(path, "ab") as f:
        f.write(b'{"log":"cut by a cra')  # a crash mid-line: skipped, as before
    everything = read_log(path)
    assert len(everything) == 3000
    for n in (0, 1, 2, 17, 2999, 3000, 5000):
        for out, err in ((True, True), (True, False), (False, True)):
            full = read_log(path, out, err)
            got = read_log(path, out, err, tail=n)
            assert got == (full[-n:] if n else []), (n, out, err)


def test_bulk_encoding_is_the_same_json_as_one_object_per_line(tmp_path: Path) -> None:
    """The writer encodes a chunk's lines in one json.dumps: each line must still be exactly
    what encoding it alone gives (quotes, backslashes, control bytes, bad UTF-8, a "," ")."""
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path)
    text = b'a"b\\n\n","\n\xc3\xa9\xff\x01\t<&>\n\n",\\"\n'
    w.write("stdout", text)
    w.close()
    raw = path.read_text().splitlines()
    lines = text.split(b"\n")[:-1]
    assert len(raw) == len(lines)
    for got, line in zip(raw, lines, strict=True):
        obj = json.loads(got)
        want = LogLine("stdout", line + b"\n", parse_iso(obj["time"])).to_json()
        assert got == want[: want.index(',"time"')] + got[got.index(',"time"') :]
        assert list(obj) == ["log", "stream", "time"]


def test_long_lines_become_partials_of_16k(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path)
    w.write("stdout", b"x" * (PARTIAL_MAX * 2 + 10) + b"\nshort\n")
    w.write("stderr", b"y" * (PARTIAL_MAX * 3 + 5))  # no newline yet: whole pieces go out
    objs = [json.loads(line) for line in path.read_text().splitlines()]
    assert [len(o["log"]) for o in objs] == [PARTIAL_MAX, PARTIAL_MAX, 11, 6] + [PARTIAL_MAX] * 3
    assert objs[2]["log"].endswith("\n") and not objs[1]["log"].endswith("\n")
    w.close()  # the 5 left over
    assert json.loads(path.read_text().splitlines()[-1])["log"] == "yyyyy"


def test_rotation_names_order_and_disk_bound(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=2000, max_file=3)
    for i in range(500):
        w.write("stdout", f"line {i:04d}\n".encode())
    w.close()
    files = log_files(path)
    assert [f.name for f in files] == ["c-json.log.2", "c-json.log.1", "c-json.log"]
    assert all(f.stat().st_size <= 2000 for f in files)
    assert not (tmp_path / "c-json.log.3").exists()
    got = [x.data for x in read_log(path)]
    # the newest lines, in order, with no gap: rotation drops only from the oldest end
    first = int(got[0].split()[1])
    assert got == [f"line {i:04d}\n".encode() for i in range(first, 500)]
    assert len(got) > 2000 * 2 // 80
    assert [x.data for x in read_log(path, tail=3)] == got[-3:]
    # --tail across the files: more lines than the current file holds
    n_current = len(path.read_text().splitlines())
    assert [x.data for x in read_log(path, tail=n_current + 5)] == got[-(n_current + 5) :]
    assert read_log(path, tail=10**6) == read_log(path)


def test_max_file_1_keeps_one_file(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=500, max_file=1)
    for i in range(100):
        w.write("stderr", f"{i}\n".encode())
    w.close()
    assert [f.name for f in log_files(path)] == ["c-json.log"]
    assert path.stat().st_size <= 500
    assert read_log(path)[-1].data == b"99\n"


def test_a_reader_keeps_what_it_opened_across_rotations(tmp_path: Path) -> None:
    """A non-follow read sees the log as it was when it started, even after rotations."""
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=300, max_file=2)
    for i in range(20):
        w.write("stdout", f"a{i}\n".encode())
    before = [x.data for x in read_log(path)]
    reader = LogReader.open(path, LogFilter())
    for i in range(200):
        w.write("stdout", f"b{i}\n".encode())
    got = []
    while (batch := reader.next_batch()) is not None:
        got += [x.data for x in batch]
    reader.close()
    w.close()
    assert got == before


def test_a_follower_sees_every_line_once_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=400, max_file=3)
    for i in range(10):
        w.write("stdout", f"{i}\n".encode())
    woken = []
    watch = LogWatch(wake=lambda: woken.append(1))
    reader = LogReader.open(path, LogFilter(), watch)
    w.watches.add(watch)
    got: list[bytes] = []
    n = 10
    for _round in range(20):  # the reader reads a little, the writer writes more (rotating)
        for _ in range(7):
            w.write("stdout", f"{n}\n".encode())
            n += 1
        while batch := reader.next_batch():  # until it has caught up ([])
            got += [x.data for x in batch]
        assert batch == []
    assert woken
    w.close()
    assert watch.ended and not watch.lagged
    while (batch := reader.next_batch()) is not None:
        got += [x.data for x in batch]
    reader.close()
    assert got == [f"{i}\n".encode() for i in range(n)]


def test_a_follower_that_falls_behind_every_file_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=200, max_file=2)
    watch = LogWatch()
    reader = LogReader.open(path, LogFilter(), watch)
    w.watches.add(watch)
    for i in range(2000):  # the reader reads nothing
        w.write("stdout", f"{i}\n".encode())
    assert watch.lagged and watch not in w.watches
    assert len(watch.files) <= 2 + LAG_FILES  # it holds a bounded number of (deleted) files
    reader.close()
    w.close()


def test_rotation_agrees_with_random_chunks(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, max_size=10_000, max_file=4)
    sent = b""
    for _ in range(300):
        chunk = bytes(rng.choice(b"ab\n") for _ in range(rng.randrange(1, 200)))
        w.write("stdout", chunk)
        sent += chunk
    w.close()
    got = b"".join(x.data for x in read_log(path))
    assert sent.endswith(got) and len(got) > 0
    assert sum(f.stat().st_size for f in log_files(path)) <= 4 * 10_000


def test_log_config_defaults_and_docker_errors() -> None:
    assert parse_log_config({}) == LogConfig("json-file", (("max-file", "3"), ("max-size", "10m")))
    c = parse_log_config({"Type": "json-file", "Config": {"max-size": "1.5k"}})
    assert c.max_size == 1500 and c.max_file == 3
    assert c.to_docker() == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "1.5k"}}
    assert parse_log_config({"Type": "none"}).keeps_log is False
    assert parse_size("10m") == 10_000_000 and parse_size("2kb") == 2000
    for cfg, text in (
        ({"max-size": "abc"}, "invalid size: 'abc'"),
        ({"max-size": "0"}, "max-size must be a positive number"),
        ({"max-file": "x"}, 'strconv.Atoi: parsing "x": invalid syntax'),
        ({"max-file": "0"}, "max-file cannot be less than 1"),
        ({"bogus": "1"}, "unknown log opt 'bogus' for json-file log driver"),
    ):
        with pytest.raises(InvalidArgument) as err:
            parse_log_config({"Type": "json-file", "Config": cfg})
        assert err.value.message == text
    with pytest.raises(NotSupported, match="--log-driver syslog"):
        parse_log_config({"Type": "syslog"})


def test_an_attach_queue_is_bounded_and_cuts_a_client_off() -> None:
    async def main() -> None:
        q = OutputQueue(limit=1000, grace=0)
        cut: list[int] = []
        q.on_overflow = lambda: cut.append(1)
        q.put_nowait(("stdout", b"x" * 600))
        assert await q.get() == ("stdout", b"x" * 600) and q.held == 0
        for _ in range(5):
            q.put_nowait(("stdout", b"y" * 300))
        assert q.overflowed and q.qsize() == 1 and await q.get() is None
        assert cut == [1]  # the session is told once, to close its connection
        q.put_nowait(("stdout", b"z"))  # nothing more after the cut
        assert q.empty()
        # before its relay starts (an attach's 101 head) a session may hold the grace
        g = OutputQueue(limit=100, grace=1000)
        g.put_nowait(("stdout", b"a" * 500))
        assert not g.overflowed
        g.bounded_from_now()  # from here: 100 more
        g.put_nowait(("stdout", b"b" * 90))
        assert not g.overflowed
        g.put_nowait(("stdout", b"c" * 20))
        assert g.overflowed

    asyncio.run(main())


def test_old_records_get_the_default_cap() -> None:
    from dockerscope.engine.containers.model import HostSettings

    assert HostSettings().log_config.max_size == 10_000_000
    assert HostSettings().log_config.max_file == 3
