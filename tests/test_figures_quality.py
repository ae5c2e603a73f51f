"""Every registered figure, drawn from small inputs, keeps the project's figure contract.

For each name in :data:`pvqmodel.figures.REGISTRY` (the test fails if a figure is
registered without an entry in ``SMALL`` below): every drawn series with a label has a
legend entry, every unlabeled drawn series is marked with ``style.keyed`` (naming an
entry that exists) or ``style.no_legend``; every visible text is at least
``MIN_FONT_PT``; error bars on a log axis stay above the axis' lower limit; the saved PNG
carries >= 200 dpi and has the pixel size that dpi implies. The inputs are small runs of
the same data functions, so the checks exercise the code paths the real figures take.
"""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from pvqmodel.figures import REGISTRY, save_figure  # noqa: E402
from pvqmodel.figures import engine as fe  # noqa: E402
from pvqmodel.figures import generations as fg  # noqa: E402
from pvqmodel.figures import host as fh  # noqa: E402
from pvqmodel.figures import overcommit as fo  # noqa: E402
from pvqmodel.figures import pv as fpv  # noqa: E402
from pvqmodel.figures.paper import fig_fits, fig_per_op, fig_pv_ratio, fig_table  # noqa: E402
from pvqmodel.figures.style import MIN_FONT_PT  # noqa: E402


def _table():
    from pvqmodel.data import seed_table

    return seed_table()


def _points():
    from pvqmodel.fit import fit_analytic

    return fit_analytic().points


def _engine():
    return fe.engine_figure_data(ops_per_task=200, reps=3, seed=1)


def _ple():
    from pvqmodel.study import ple_study

    return ple_study(locks=("ticket", "pv-ticket"), tasks=(2, 3), ops_per_task=60, reps=3,
                     quantum_ns=2e4)


def _pv():
    from pvqmodel.study import pv_lock_study

    return pv_lock_study(quantum_ns=2e4, ops_per_task=60, reps=3, seed=0)


def _hunt():
    from pvqmodel.hunt import hunt_sweep

    return hunt_sweep("pv-qspinlock-v10", drain_ns=(0.0, 200.0), quantum_ns=(2000.0,),
                      budget=4, seed=3)


@functools.cache
def _gens():
    from pvqmodel.generations import generations

    # every lock and schedule of the registered figures, at a few hundred operations
    return generations(ops_per_task=150, reps=3, seed=0)


@functools.cache
def _host():
    from pvqmodel.hoststudy import host_study

    # every scheduler, PLE setting and VM count of the registered figure, small
    return host_study(pcpus=2, vcpus=2, duration_ms=1.0, reps=3, halt_poll=(True,),
                      seed=0, workers=1)


@functools.cache
def _overcommit():
    import tempfile

    from pvqmodel.overcommit import overcommit_table
    from pvqmodel.sweeps import sweep, sweep_results

    # every panel kind of the registered figures (two workloads, PLE off and on), tiny
    out = tempfile.mkdtemp(prefix="pvq-figq-")
    sweep(dict(name="figq", root_seed=1, reps=2, duration_ms=0.3,
               host=dict(pcpus=4, ple=[True, False]),
               grid=dict(locks=["ticket", "pv-qspinlock"],
                         workloads=["microbench", "think-sleep"], layouts=[[2], [4, 4]])),
          out=out, serial=True, progress=False)
    return overcommit_table(sweep_results(out))


#: name -> builder of the registered figure from small inputs.
SMALL = {
    "seed-table": lambda: fig_table(_table()),
    "seed-per-op": lambda: fig_per_op(_table()),
    "seed-pv-ratio": lambda: fig_pv_ratio(_table()),
    "analytic-fits": lambda: fig_fits(_points()),
    "engine-vs-table": lambda: fe.fig_engine_vs_table(_engine()[0], _points()),
    "engine-residuals": lambda: fe.fig_engine_residuals(_engine()[0]),
    "engine-handoff": lambda: fe.fig_handoff(_engine()[1]),
    "engine-transfers": lambda: fe.fig_transfers(_engine()[0]),
    "engine-ablation": lambda: fe.fig_engine_ablation(
        *fe.mechanism_figure_data(ops_per_task=150, ablation_ops=150),
        title="small"),
    "pv-study": lambda: fpv.fig_pv_study(*_pv(), title=fpv.PV_STUDY_TITLE),
    "hunt-sweep": lambda: fpv.fig_hunt_sweep(_hunt()),
    "ple-study": lambda: fpv.fig_ple_study(_ple(), title=fpv.PLE_STUDY_TITLE),
    "generations-throughput": lambda: fg.fig_generations_throughput(
        _gens(), title=fg.GEN_FIG_TITLE),
    "generations-counters": lambda: fg.fig_generations_counters(_gens(),
                                                                title=fg.GEN_FIG_TITLE),
    "host-schedulers": lambda: fh.fig_host_schedulers(
        _host(), title=fh.host_figure_title(dict(pcpus=2, vcpus=2, reps=3, duration_ms=1))),
    "overcommit-slowdown": lambda: fo.fig_overcommit_slowdown(
        _overcommit(), title=fo.study_title(_overcommit())),
    "overcommit-ranking": lambda: fo.fig_overcommit_ranking(
        _overcommit(), title=fo.study_title(_overcommit())),
    "overcommit-counters": lambda: fo.fig_overcommit_counters(
        _overcommit(), title=fo.study_title(_overcommit())),
}


@pytest.fixture(scope="module")
def figures():
    built = {name: build() for name, build in SMALL.items()}
    yield built
    import matplotlib.pyplot as plt

    for fig in built.values():
        plt.close(fig)


def test_every_registered_figure_is_checked():
    assert set(SMALL) == set(REGISTRY)


def _legend_texts(fig):
    return {t.get_text() for leg in fig.findobj(Legend) for t in leg.get_texts()}


def _drawn(ax):
    """(artist, label) of each drawn series: containers whole, other lines/collections."""
    inside = set()
    out = []
    for c in ax.containers:
        if isinstance(c, (ErrorbarContainer, BarContainer)):
            out.append((c, c.get_label(), c))
            for a in c.get_children():
                inside.add(id(a))
    for a in [*ax.lines, *ax.collections, *ax.patches]:
        if id(a) in inside or not a.get_visible():
            continue
        if isinstance(a, Line2D) and len(a.get_xdata()) == 0:
            continue
        out.append((a, a.get_label(), a))
    return out


def _mark(artist, container):
    gid = container.get_gid() if hasattr(container, "get_gid") else None
    if gid is None and hasattr(container, "get_children"):
        gids = {c.get_gid() for c in container.get_children()} - {None}
        gid = gids.pop() if len(gids) == 1 else None
    return gid


def legend_problems(fig) -> list[str]:
    """Drawn series that no legend explains (see the module docstring)."""
    texts = _legend_texts(fig)
    problems = []
    for ax in fig.axes:
        for artist, label, container in _drawn(ax):
            gid = _mark(artist, container)
            if label and not label.startswith("_"):
                if label not in texts:
                    problems.append(f"{label!r} drawn but not in a legend")
            elif gid and gid.startswith("legend:"):
                if gid[len("legend:"):] not in texts:
                    problems.append(f"{type(artist).__name__} keyed to missing {gid!r}")
            elif not (gid and gid.startswith("nolegend:") and len(gid) > len("nolegend:")):
                problems.append(f"unlabelled, unmarked {type(artist).__name__} in "
                                f"{ax.get_title()!r}")
    return problems


def font_problems(fig) -> list:
    """Visible texts smaller than MIN_FONT_PT."""
    fig.canvas.draw()  # tick labels exist only once drawn
    return [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]


def _bar_ylims(container):
    """y extent of every error bar segment of an errorbar container."""
    ys = []
    for a in container.get_children():
        if isinstance(a, LineCollection):
            for seg in a.get_segments():
                ys.append(np.asarray(seg)[:, 1])
    return np.concatenate(ys) if ys else np.array([])


def log_axis_problems(fig) -> list:
    """Error bars or bands on a log y axis that reach zero or below the axis limit."""
    problems = []
    for ax in fig.axes:
        if ax.get_yscale() != "log":
            continue
        lo = ax.get_ylim()[0]
        for c in ax.containers:
            if isinstance(c, ErrorbarContainer):
                y = _bar_ylims(c)
                y = y[np.isfinite(y)]
                if y.size and not ((y > 0).all() and (y >= lo).all()):
                    problems.append((c.get_label(), float(y.min()), lo))
        for coll in ax.collections:
            if isinstance(coll, PolyCollection):
                for p in coll.get_paths():
                    v = p.vertices[:, 1]
                    if (v[np.isfinite(v)] <= 0).any():
                        problems.append(("band", float(np.nanmin(v)), lo))
    return problems


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_drawn_series_is_explained_by_a_legend(figures, name):
    assert not legend_problems(figures[name])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_text_is_at_least_8_pt(figures, name):
    assert MIN_FONT_PT >= 8
    assert not font_problems(figures[name])


@pytest.mark.parametrize("name", sorted(SMALL))
def test_error_bars_stay_on_log_axes(figures, name):
    assert not log_axis_problems(figures[name])


def test_the_checks_catch_what_they_check():
    """The three checks above flag a figure that breaks each rule once."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="in legend")
    ax.legend()
    assert not legend_problems(fig) and not font_problems(fig)
    ax.plot([1, 2], [2, 1], label="not in legend")
    ax.plot([1, 2], [3, 1])
    ax.set_title("tiny", fontsize=6)
    ax.errorbar([1, 2], [1.0, 2.0], yerr=[[1.5, 0.5], [0.5, 0.5]], fmt="o")
    ax.set_yscale("log")
    ax.set_ylim(0.1, 10)
    assert len(legend_problems(fig)) == 3  # the unlisted label, the bare line, the errorbar
    assert font_problems(fig) == [("tiny", 6.0)]
    assert len(log_axis_problems(fig)) == 1
    plt.close(fig)


@pytest.mark.parametrize("name", ["seed-table", "pv-study", "ple-study",
                                  "generations-counters", "host-schedulers",
                                  "overcommit-slowdown", "overcommit-ranking"])
def test_saved_png_is_at_least_200_dpi(figures, name, tmp_path):
    fig = figures[name]
    w_in, h_in = fig.get_size_inches()
    png, pdf = save_figure(fig, tmp_path, name)
    with Image.open(png) as im:
        dpi = im.info["dpi"]
        w_px, h_px = im.size
    assert min(dpi) >= 200, dpi
    # bbox_inches="tight" trims or extends the canvas, but not by half its size
    assert w_px >= 0.5 * w_in * 200 and h_px >= 0.5 * h_in * 200, (im.size, w_in, h_in)
    assert pdf.read_bytes().startswith(b"%PDF")


_BUILD_SMALL = """
import sys
from pvqmodel.figures import save_figure
from pvqmodel.figures.pv import PLE_STUDY_TITLE, fig_ple_study
from pvqmodel.study import ple_study
s = ple_study(locks=("ticket", "pv-ticket"), tasks=(2, 3), ops_per_task=60, reps=3,
              quantum_ns=2e4)
save_figure(fig_ple_study(s, title=PLE_STUDY_TITLE), sys.argv[1], "ple-study")
"""


def test_an_error_bar_figure_is_byte_identical_across_two_processes(tmp_path):
    """The interval figures (asymmetric bars, dodged series, two legends) are as
    byte-stable as the seed figures (``test_figures_cli`` checks those)."""
    import hashlib
    import subprocess
    import sys

    digests = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, "-c", _BUILD_SMALL, str(out)], check=True)
        digests.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(out.iterdir())})
    assert digests[0] == digests[1]
    assert set(digests[0]) == {"ple-study.png", "ple-study.pdf"}
