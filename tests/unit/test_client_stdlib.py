"""The client uses the standard library only: it must run in a container that has just python3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# -S: no site-packages; -I: isolated (no PYTHONPATH, no user site, cwd not on the path).
PROBE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
before = set(sys.modules)
import dockerscope.client
import dockerscope.client.commands
import dockerscope.client.__main__
new = sorted(set(sys.modules) - before)
ours = [m for m in new if m.split('.')[0] == 'dockerscope']
foreign = [m for m in new
           if m.split('.')[0] not in sys.stdlib_module_names and m.split('.')[0] != 'dockerscope']
outside = [m for m in ours if m not in ('dockerscope',) and not m.startswith('dockerscope.client')]
print('FOREIGN', ','.join(foreign))
print('OUTSIDE', ','.join(outside))
"""


def test_client_imports_only_the_standard_library() -> None:
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = dict(
        line.split(" ", 1) if " " in line else (line, "") for line in out.stdout.splitlines()
    )
    assert lines["FOREIGN"] == "", f"client imported third-party modules: {lines['FOREIGN']}"
    assert lines["OUTSIDE"] == "", f"client imported the rest of dockerscope: {lines['OUTSIDE']}"


def test_client_runs_as_a_program_without_site_packages() -> None:
    code = (
        f"import sys, runpy; sys.path.insert(0, {str(ROOT)!r}); sys.argv=['docker', '--help'];"
        " runpy.run_module('dockerscope.client', run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    for name in ("run", "ps", "network", "exec", "logs", "pull"):
        assert name in out.stdout


def test_bundle_gives_a_working_docker_command(tmp_path: Path) -> None:
    from dockerscope.client.bundle import BIN, bundle_files

    files = bundle_files()
    assert "usr/local/lib/dockerscope/dockerscope/client/commands/containers.py" in files
    for rel, (data, mode) in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            data.replace(
                b'"/usr/local/lib/dockerscope"',
                repr(str(tmp_path / "usr/local/lib/dockerscope")).encode(),
            )
        )
        path.chmod(mode)
    out = subprocess.run(
        [sys.executable, "-S", "-I", str(tmp_path / BIN), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert "network" in out.stdout
    assert (tmp_path / BIN).stat().st_mode & 0o111


def _client_imports_of(package: str) -> set[tuple[str, str]]:
    """(client module, name) for every ``from dockerscope.client... import name`` in a package."""
    import ast

    found = set()
    for path in sorted((ROOT / "dockerscope" / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("dockerscope.client") for a in node.names), path
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "dockerscope.client"
            ):
                found |= {(node.module or "", a.name) for a in node.names}
    return found


def test_the_engine_uses_the_client_for_two_things_only() -> None:
    """Docker's "Up 3 seconds" wording (go-units, which dockerd and the docker CLI share) and
    the client's own files for the ``docker`` image: the client stays self-contained, so both
    live in it and the engine depends on it for them, nothing else."""
    assert _client_imports_of("engine") == {
        ("dockerscope.client.formatting", "human_duration"),
        ("dockerscope.client.bundle", "bundle_files"),
    }


def test_the_kernel_uses_the_client_transport_only() -> None:
    """The observer asks a Docker socket for hints through the one stdlib HTTP client."""
    assert {module for module, _ in _client_imports_of("kernel")} == {
        "dockerscope.client.transport"
    }
