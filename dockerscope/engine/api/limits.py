"""How long and how much the API server waits for and takes from one client.

The daemon must answer ``/_ping`` whatever a few clients do: hold connections open and idle,
dribble a request head a byte at a time (slowloris), stream a body and stall or abort, or
send a body far larger than the endpoint takes. Every wait has a bound here, every body a size,
and the number of connections a cap below the process's file descriptor limit.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

from dockerscope.engine.api.errors import ApiError

#: Seconds a keep-alive connection may sit between requests with no byte of a new one. Longer
#: than a client's pause between the calls of one command (the docker CLI's create, attach,
#: wait, start; a compose loop) and than Go's 90 s client idle timeout, so a client drops its
#: idle connection before we do; short enough that forgotten connections stop pinning an fd.
IDLE_TIMEOUT = 120.0
#: Seconds from a request's first byte to the end of its head. A head is a few hundred bytes
#: that every real client writes at once; 10 s leaves room for a loaded machine and still
#: closes a slowloris client, which keeps a connection busy by sending a byte now and then.
HEADER_TIMEOUT = 10.0
#: Seconds a request body may go without a byte. ``docker load < file`` streams steadily, but
#: ``tar c dir | docker import -`` can pause while its producer reads a disk; a minute of silence
#: means the client is stuck or hostile.
BODY_TIMEOUT = 60.0
#: Seconds a whole (non-streamed) response may take to leave: a client that sends requests and
#: never reads the answers fills the socket buffer; it must not hold its connection forever.
WRITE_TIMEOUT = 60.0
#: Body bytes read and dropped after an answer that did not read its request's body (a 404 for a
#: POST with a body), so the connection can serve the next request; past this it is closed
#: instead (Go's net/http reads 256 KiB the same way).
DRAIN_LIMIT = 256 * 1024
#: Body bytes a client may send while it waits for a streamed answer (a pipelined request sits
#: in the parser's buffer until the stream ends); past this the connection is closed.
PIPELINE_LIMIT = 64 * 1024

#: File descriptors kept free of connections: the daemon's own (log, netlink and inotify
#: sockets, the event bus, pidfds) and those a request opens (an image spool, a save tar).
FD_RESERVED = 128
#: Connections never exceed half of what is left: each container holds several fds in the daemon
#: (stdio pipes or a pty, its log file, a pidfd, its attach and exec sessions' sockets).
FD_SHARE_FOR_CONNECTIONS = 0.5
#: Bounds of the connection cap whatever the fd limit: enough for a lab's clients (the CLI opens
#: three per ``docker run``), and a bound on memory (a few kB of parser state per connection).
MIN_CONNECTIONS = 16
MAX_CONNECTIONS = 1024
#: Listen backlog of the daemon's sockets (asyncio's default is 100): a burst of clients waits
#: in the kernel rather than being refused; the kernel clamps it to net.core.somaxconn.
LISTEN_BACKLOG = 1024

#: What ``/images/load`` and ``/images/create?fromSrc=-`` (import) spool to disk before the
#: store reads it: Docker has no limit, but a lab's disk is shared; 4 GiB holds a debian image
#: many times over. Past it the answer is 413 and the spool file is removed.
MAX_IMAGE_UPLOAD = 4 * 1024**3


class BodyTooLarge(ApiError):
    """A body past what its endpoint takes: 413, and the connection is closed after the
    answer without reading the rest."""

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} larger than {limit} bytes", 413)
        self.limit = limit


class BodyTimeout(ApiError):
    """A body that stopped flowing for ``BODY_TIMEOUT`` seconds: 408, then the connection is
    closed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body stalled: no byte for {seconds:g} s", 408)


def nofile_limit() -> int:
    """This process's soft RLIMIT_NOFILE (file descriptors it may hold open)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def connection_cap(nofile: int) -> int:
    """How many connections to hold at once under an fd limit of ``nofile``."""
    free = int((nofile - FD_RESERVED) * FD_SHARE_FOR_CONNECTIONS)
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, free))


@dataclass(frozen=True)
class Limits:
    """The bounds one ``HttpServer`` applies (tests shorten the timeouts)."""

    idle_timeout: float = IDLE_TIMEOUT
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    write_timeout: float = WRITE_TIMEOUT
    drain_limit: int = DRAIN_LIMIT
    pipeline_limit: int = PIPELINE_LIMIT
    #: 0: from RLIMIT_NOFILE when the server is made (``connection_cap``).
    max_connections: int = 0

    def connections(self) -> int:
        """The connection cap in force."""
        return self.max_connections or connection_cap(nofile_limit())
