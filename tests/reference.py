"""Where the Docker 20.10 reference captures are: ../shared/reference/docker-20.10 beside the repo.

Outside CI a checkout without shared/ skips the fidelity tests; in CI (CI=true), where shared/ is
always laid beside the clone, they run regardless, so a missing reference fails loudly instead of
skipping silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "docker-20.10"

needs_reference = pytest.mark.skipif(
    not REFERENCE_DIR.is_dir() and not os.environ.get("CI"),
    reason=f"Docker 20.10 reference files not present at {REFERENCE_DIR}",
)
