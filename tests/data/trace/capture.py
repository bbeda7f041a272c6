"""Record a real trace once, for the decoder and rule-matching unit tests (run as root).

    python tests/data/trace/capture.py /run/netns/<lab> NAME 'tcp dport 8080' COUNT

while something sends matching packets; writes NAME.events (the trace datagrams as read),
NAME.rules (the nf_tables rule and chain dumps), and NAME.save (iptables-save)
next to this file, and prints the traces.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dockerscope.cli.trace import render
from dockerscope.kernel.trace import rules
from dockerscope.kernel.trace.filters import parse
from dockerscope.kernel.trace.session import TraceSession


def main() -> None:
    ns_path, name, text, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    here = Path(__file__).parent
    session = TraceSession(ns_path, "lab:sample", parse(text), pid=1)
    raw: list[bytes] = []
    with session:
        traces = list(session.traces(count=count, timeout=15, raw=raw))
        assert session._query is not None
        session._query.tap = dumps = []
        rules.rule_positions(session._query)
        rules.chain_hooks(session._query)
        session._query.tap = None
    from dockerscope.kernel.iptables import save_text

    (here / f"{name}.events").write_bytes(b"".join(raw))
    (here / f"{name}.rules").write_bytes(b"".join(dumps))
    (here / f"{name}.save").write_text(save_text(ns_path))
    print("\n".join(render(t) for t in traces))


if __name__ == "__main__":
    main()
