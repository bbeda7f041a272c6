"""A Docker Engine API client using only the standard library.

It runs wherever there is a python3, including inside a container with the daemon's socket
mounted (``python3 -m dockerscope.client run ...``). Nothing here imports the rest of
dockerscope or any third-party package: ``tests/unit/test_client_stdlib.py`` proves it.
"""

from .api import DockerClient
from .streams import FrameDemuxer, HijackedStream
from .transport import API_VERSION, APIError, DaemonUnreachable, DockerHost, DockerHostError

__all__ = [
    "API_VERSION",
    "APIError",
    "DaemonUnreachable",
    "DockerClient",
    "DockerHost",
    "DockerHostError",
    "FrameDemuxer",
    "HijackedStream",
]
