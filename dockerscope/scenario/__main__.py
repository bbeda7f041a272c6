"""``python -m dockerscope.scenario``: run, record, regenerate, replay and check scenarios."""

import sys

from dockerscope.scenario.commands import main

if __name__ == "__main__":
    sys.exit(main())
