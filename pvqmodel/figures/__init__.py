"""Every figure of the project, rebuilt by one call (``pvqmodel figures``).

Owns the registry of figures: each entry names a figure and a zero-argument builder that
gets its data from the package and calls a ``fig_*`` drawing function. ``build_all``
writes them all as PNG and PDF with stripped metadata, so two runs give identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from matplotlib.figure import Figure

from ..engine import ensure_compiled
from ..paths import FIGURES
from .paper import fig_fits, fig_per_op, fig_pv_ratio, fig_table
from .save import save_figure

__all__ = ["REGISTRY", "build_all", "fig_fits", "fig_per_op", "fig_pv_ratio", "fig_table",
           "register", "save_figure"]


@cache
def _table():
    from ..data import seed_table

    return seed_table()


@cache
def _fit():
    from ..fit import fit_analytic

    return fit_analytic()


#: name -> builder returning a Figure; later layers add theirs with :func:`register`.
REGISTRY: dict[str, Callable[[], Figure]] = {
    "seed-table": lambda: fig_table(_table()),
    "seed-per-op": lambda: fig_per_op(_table()),
    "seed-pv-ratio": lambda: fig_pv_ratio(_table()),
    "analytic-fits": lambda: fig_fits(_fit().points),
}


def register(name: str, builder: Callable[[], Figure]) -> None:
    """Add a figure to the registry (used by modules that own heavier data)."""
    REGISTRY[name] = builder


from .engine import register_engine_figures  # noqa: E402  (needs register above)

register_engine_figures()

from .pv import register_pv_figures  # noqa: E402

register_pv_figures()

from .generations import register_generation_figures  # noqa: E402

register_generation_figures()

from .host import register_host_figures  # noqa: E402

register_host_figures()

from .overcommit import register_overcommit_figures  # noqa: E402

register_overcommit_figures()


def build_all(out_dir: Path | str = FIGURES, names=None, formats=("png", "pdf"),
              progress: bool = False) -> list[Path]:
    """Build the named figures (default: all) into ``out_dir``; return written paths."""
    from tqdm.auto import tqdm

    names = list(REGISTRY) if names is None else list(names)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown figure names {unknown}; known: {sorted(REGISTRY)}")
    paths = []
    if progress:  # a cold engine compile is announced before the bar, not hidden in it
        ensure_compiled()
    for name in tqdm(names, desc="figures", disable=not progress):
        paths += save_figure(REGISTRY[name](), Path(out_dir), name, formats)
    return paths
