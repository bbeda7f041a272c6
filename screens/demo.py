"""``python -m dockerscope.screens.demo``: the dashboard on the fake lab, no root, no daemon.

For trying the UI and for the tmux smoke test. ``--interval`` sets seconds between frames.
"""

from __future__ import annotations

import argparse

from dockerscope.screens.app import build_app
from dockerscope.screens.fake import FakeSource


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dockerscope.screens.demo")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between frames")
    args = parser.parse_args(argv)
    build_app(FakeSource(interval=args.interval), title="dockerscope demo (fake lab)").run()


if __name__ == "__main__":
    main()
