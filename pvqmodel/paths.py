"""Absolute paths of the repository's data and output folders.

Owns nothing but locations: every module that reads raw data or writes generated
outputs asks here, so a notebook run from ``notebooks/`` and the CLI run from the
repository root write to the same places.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Repository root (the folder holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
RAW = DATA / "raw"
PROCESSED = DATA / "processed"
HARDWARE = DATA / "hardware"
HOSTS = DATA / "hosts"
FIGURES = Path(os.environ.get("PVQ_FIGURES_DIR", ROOT / "figures"))
