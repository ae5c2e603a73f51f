"""Saving figures byte-for-byte reproducibly.

Owns the metadata stripping (PNG ``Software``; PDF ``Creator``, ``Producer``,
``CreationDate``) that makes a re-run produce identical files, so a diff of
``figures/`` shows only real changes. Each file is written atomically
(:func:`pvqmodel.outputs.atomic_path`): an interrupted save leaves the old file.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..outputs import atomic_path
from .style import PNG_DPI

_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}


def save_figure(fig: Figure, out_dir: Path, name: str, formats=("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<fmt>`` for each format; close it; return paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        if fmt not in _METADATA:
            raise ValueError(f"formats must be among {sorted(_METADATA)}, got {fmt!r}")
        path = out_dir / f"{name}.{fmt}"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=_METADATA[fmt], bbox_inches="tight",
                        dpi=PNG_DPI)
        paths.append(path)
    plt.close(fig)
    return paths
