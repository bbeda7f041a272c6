"""json-file logs: one {"log","stream","time"} object per line, read back like docker logs."""

from __future__ import annotations

import json
from pathlib import Path

from dockerscope.engine.containers.logs import JsonLogWriter, LogLine, parse_iso, read_log


def test_lines_are_split_buffered_and_flushed(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    seen: list[LogLine] = []
    w = JsonLogWriter(path, seen.append)
    w.write("stdout", b"hel")
    w.write("stdout", b"lo\nwor")
    w.write("stderr", b"oops\n")
    assert [(x.stream, x.data) for x in seen] == [("stdout", b"hello\n"), ("stderr", b"oops\n")]
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
    w = JsonLogWriter(path, None)
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


def test_end_limits_what_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    w = JsonLogWriter(path, None)
    w.write("stdout", b"one\ntwo\n")
    w.close()
    end = path.stat().st_size
    w = JsonLogWriter(path, None)
    w.write("stdout", b"three\n")
    w.close()
    assert [x.data for x in read_log(path, end=end)] == [b"one\n", b"two\n"]
    assert [x.data for x in read_log(path, tail=1, end=end)] == [b"two\n"]
    assert [x.data for x in read_log(path, tail=1)] == [b"three\n"]
