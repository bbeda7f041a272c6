"""``python -m dockerscope.scenario.regenerate``: re-record every shipped course recording.

Each scenario runs in a fresh temporary lab (root needed); a recording is only replaced when
every expectation held. ``--stale`` limits the work to missing or out-of-date recordings.
"""

import sys

from dockerscope.scenario.commands import main

if __name__ == "__main__":
    sys.exit(main(["regenerate", *sys.argv[1:]]))
