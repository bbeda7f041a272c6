"""``python -m dockerscope``: the same as the ``dockerscope`` command."""

import sys

from dockerscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
