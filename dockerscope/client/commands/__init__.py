"""docker-like commands (``run``, ``ps``, ``network create``...) over ``DockerClient``, stdlib only.

``add_commands(subparsers)`` registers every command on an argparse parser, so both the tiny
``python3 -m dockerscope.client`` program and the ``dockerscope`` command line offer them;
``execute(args, client, console)`` runs the chosen one and returns its exit code, printing
errors the way the docker CLI does ("Error response from daemon: ...", exit code 1).

One module per group: ``system``, ``containers`` (create, run, exec), ``container_state`` (stop,
rm, commit), ``container_info`` (ps, logs, inspect), ``images``, ``networks`` register their
commands on import (``--help`` lists them alphabetically, as docker does); ``session`` holds
attached terminals and signal proxying; ``program`` the parser, ``main`` and ``line_runner``.
"""

from . import (  # noqa: F401 (registers the commands)
    container_info,
    container_state,
    containers,
    images,
    networks,
    system,
)
from .base import (
    CLIENT_VERSION,
    COMMANDS,
    Command,
    CommandFailed,
    Console,
    add_commands,
    docker_command_names,
    execute,
)
from .images import pull_image
from .program import build_parser, line_runner, main
from .session import FORWARDED_SIGNALS, proxy_signals, stream_session

__all__ = [
    "CLIENT_VERSION",
    "COMMANDS",
    "FORWARDED_SIGNALS",
    "Command",
    "CommandFailed",
    "Console",
    "add_commands",
    "build_parser",
    "docker_command_names",
    "execute",
    "line_runner",
    "main",
    "proxy_signals",
    "pull_image",
    "stream_session",
]
