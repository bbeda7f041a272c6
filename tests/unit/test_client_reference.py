"""The course's commands send exactly the requests the docker CLI sent in the reference capture
(shared/reference/docker-20.10/08-cli-api-calls.txt), ids aside."""

from __future__ import annotations

import io
import os
import re

import pytest

from dockerscope.client.commands import Console, main
from tests.reference import REFERENCE_DIR, needs_reference
from tests.unit.test_client_fakeserver import FakeDocker, serving

REFERENCE = REFERENCE_DIR / "08-cli-api-calls.txt"

fake_docker = pytest.fixture(serving)

# The commands behind the capture, in its order.
COMMANDS: list[tuple[list[str], bytes | None]] = [
    (["version"], None),
    (["ps", "-a"], None),
    (["network", "create", "course-net"], None),
    (["network", "ls"], None),
    (["run", "--rm", "busybox", "echo", "hello"], None),
    (["run", "--rm", "-i", "busybox", "cat"], b"from stdin\n"),
    (["network", "rm", "course-net"], None),
    (["rm", "-f", "web"], None),
]


def _normalise(lines: list[str]) -> list[str]:
    return [re.sub(r"[0-9a-f]{64}", "<id>", line.strip()) for line in lines if line.strip()]


@needs_reference
def test_requests_match_the_reference_capture(fake_docker: FakeDocker) -> None:
    fake_docker.exited.set()
    for argv, stdin in COMMANDS:
        fd = 0
        if stdin is not None:
            r, w = os.pipe()
            os.write(w, stdin)
            os.close(w)
            fd = r
        try:
            code = main(
                ["-H", "unix://" + fake_docker.socket_path, *argv],
                Console(io.BytesIO(), io.BytesIO(), fd),
            )
        finally:
            if stdin is not None:
                os.close(fd)
        assert code == 0, argv
    sent = _normalise([line.split("?name=")[0] for line in fake_docker.lines])
    assert sent == _normalise(REFERENCE.read_text().splitlines())
