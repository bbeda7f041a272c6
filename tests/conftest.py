"""Shared fixtures: root detection, unique lab names, and the leak check for kernel tests."""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.leakcheck import KernelInventory, install_run_marker

IS_ROOT = os.geteuid() == 0

# Everything this run starts inherits the marker, so the leak check can tell our processes
# from other programs' on a shared machine.
install_run_marker()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (kernel test)")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def lab_name() -> str:
    """A unique, valid lab name for one test (short: it ends up in interface names)."""
    return "t" + uuid.uuid4().hex[:8]


#: Held by a test run while its kernel tests run. The leak check compares netns, links, rules and
#: cgroups machine-wide, so a second test run on the same machine (a developer's beside CI's)
#: waits for it rather than seeing the first run's labs come and go as leaks.
KERNEL_LOCK = "/run/lock/dockerscope-kernel-tests.lock"


@pytest.fixture(scope="session")
def _kernel_tests_alone() -> Iterator[None]:
    """Hold the machine-wide kernel-test lock from the first kernel test to the run's end."""
    os.makedirs(os.path.dirname(KERNEL_LOCK), exist_ok=True)
    with open(KERNEL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(autouse=True)
def _no_kernel_leaks(request: pytest.FixtureRequest):
    """For tests marked ``kernel``: fail if the test left kernel objects behind."""
    if "kernel" not in request.keywords or not IS_ROOT:
        yield
        return
    request.getfixturevalue("_kernel_tests_alone")
    before = KernelInventory.take()
    yield
    # Processes can take a moment to be reaped after a kill.
    leaked: dict[str, list[str]] = {}
    for _ in range(20):
        leaked = KernelInventory.take().leaked_since(before)
        if not leaked:
            break
        time.sleep(0.1)
    assert not leaked, f"test left kernel objects behind: {leaked}"
