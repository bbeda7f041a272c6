"""``python3 -m dockerscope.client ...``: a tiny docker-compatible program."""

import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main())
