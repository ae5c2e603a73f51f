"""The notebooks as a user meets them in JupyterLab.

Executing every notebook is nbmake's job (``make test``). Here: notebook 03's slider
callback re-runs the simulation with the sliders' values and its output moves the way
the parameter should move it; the sliders re-run on release and show their defaults
exactly; saving a notebook the way JupyterLab does (through jupytext's contents manager,
with the kernel's metadata) leaves the tracked ``.py`` byte-identical; no notebook cell
leaves a figure as its last expression (it would be shown twice); and the project's
JupyterLab settings (open a ``.py`` as a notebook) are what ``make install`` installed.
"""

from __future__ import annotations

import ast
import json
import math
import shutil
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
# small runs: the effects asserted below are an order of magnitude or a 0/non-0 switch
SIZE = dict(tasks=4, ops_per_task=300, reps=1, seed=0)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


# ---- notebook 03: the slider callback --------------------------------------------------

@pytest.fixture(scope="module")
def default_view():
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import pv_study_view

    table, fig = pv_study_view(**SIZE)
    plt.close(fig)
    return table


def test_smaller_qspin_threshold_gives_more_v10_halts(default_view):
    """QSPIN_THRESHOLD 2^14 -> 2^6: the v10 waiters halt after 64 spins instead of 16384,
    so under the same schedule (same seed) far more acquisitions halt. At the defaults a
    few percent halt (those that outwait a preempted holder); at 2^6 most do. The test
    asks only for a strict increase of the fair lock's halts and kicks, and no change to
    the PV ticket lock, whose threshold did not move (common random numbers: same seed,
    so its run is bit-identical)."""
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import pv_study_view

    table, fig = pv_study_view(qspin_threshold_log2=6, **SIZE)
    plt.close(fig)
    v10, d10 = table.loc["pv-qspinlock-v10"], default_view.loc["pv-qspinlock-v10"]
    assert v10["halts_per_1k"] > d10["halts_per_1k"]
    assert v10["kicks_per_1k"] > d10["kicks_per_1k"]
    assert table.loc["pv-ticket"].equals(default_view.loc["pv-ticket"])


def test_smaller_spin_threshold_gives_more_pv_ticket_halts(default_view):
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import pv_study_view

    table, fig = pv_study_view(spin_threshold_log2=6, **SIZE)
    plt.close(fig)
    assert (table.loc["pv-ticket", "halts_per_1k"]
            > default_view.loc["pv-ticket", "halts_per_1k"])
    assert table.loc["pv-qspinlock-v10"].equals(default_view.loc["pv-qspinlock-v10"])


def test_wakeup_preempt_reaches_the_kernel(default_view):
    """The checkbox: off, no wake-up preempts anything (counter 0); on, every lock that
    halts in these runs has its woken vCPUs preempt (counter > 0), and the v10 lock,
    which halts at the defaults, runs a different schedule (ns/op changes)."""
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import pv_study_view

    assert (default_view["wakeup_preemptions"] == 0).all()
    table, fig = pv_study_view(wakeup_preempt=True, **SIZE)
    plt.close(fig)
    halting = default_view.index[default_view["halts_per_1k"] > 0]
    assert "pv-qspinlock-v10" in halting  # else the defaults no longer exercise halts
    assert (table.loc[halting, "wakeup_preemptions"] > 0).all()
    assert (table.loc["pv-qspinlock-v10", "ns_per_op"]
            != default_view.loc["pv-qspinlock-v10", "ns_per_op"])


def test_describe_pv_table_is_computed_from_the_table(default_view):
    from pvqmodel.widgets import describe_pv_table

    text = describe_pv_table(default_view)
    pct = default_view.loc["pv-qspinlock-v10", "halts_per_1k"] / 10
    assert f"pv-qspinlock-v10: {default_view.loc['pv-qspinlock-v10', 'ns_per_op']:,.0f}" in text
    assert f"{pct:.1f} % of acquisitions halted" in text


def test_describe_wakeup_preemption_reads_the_counters():
    import pandas as pd

    from pvqmodel.widgets import describe_wakeup_preemption

    df = pd.DataFrame(dict(
        lock=["a", "a", "b", "b"], ple=[False] * 4, wakeup_preempt=[False, True] * 2,
        halts=[0, 0, 5, 5], wakeup_preemptions=[0, 0, 0, 4],
        ns_per_op=[10.0, 10.0, 50.0, 20.0]))
    lines = describe_wakeup_preemption(df).splitlines()
    assert lines[0].startswith("a, PLE off: no halts") and lines[0].endswith("identical")
    assert lines[1] == "b, PLE off: 5 halts, 4 wake-up preemptions: differs"


def test_sliders_rerun_on_release_and_show_their_defaults():
    w = pytest.importorskip("ipywidgets")
    from pvqmodel.widgets import PV_VIEW_DEFAULTS, pv_study_sliders

    sliders = pv_study_sliders()
    assert set(sliders) == set(PV_VIEW_DEFAULTS)
    for name, s in sliders.items():
        assert s.value == PV_VIEW_DEFAULTS[name], name
        assert s.style.description_width == "initial", name
        if isinstance(s, w.Checkbox):
            continue
        assert s.continuous_update is False, name
        # the default lies on the slider's grid, so the browser does not snap it away
        # (a step of 0.5 turned the 9.3 us kick into 9.5)
        pos = (math.log(s.value, s.base) if isinstance(s, w.FloatLogSlider) else s.value)
        k = (pos - s.min) / s.step
        assert abs(k - round(k)) < 1e-9, (name, s.value, s.min, s.step)
    with pytest.raises(ValueError, match="kick"):
        pv_study_sliders(kick=3.0)


def test_moving_a_slider_reruns_without_a_button(capsys):
    """The notebook's widget: no button; changing a slider's value (what the browser
    sends on release) runs the callback again with the new value."""
    w = pytest.importorskip("ipywidgets")
    import matplotlib.pyplot as plt

    from pvqmodel.widgets import pv_study_widget

    widget = pv_study_widget(**SIZE)
    assert not any(isinstance(c, w.Button) for c in widget.children)
    before = widget.result
    sliders = {c._kwarg: c for c in widget.kwargs_widgets}
    sliders["qspin_threshold_log2"].value = 6
    after = widget.result
    assert after is not before
    assert (after.loc["pv-qspinlock-v10", "halts_per_1k"]
            > before.loc["pv-qspinlock-v10", "halts_per_1k"])
    assert plt.get_fignums() == []  # the callback shows its figure once and closes it


# ---- notebooks as files ----------------------------------------------------------------

def _code_cells(path: Path):
    """The code cells of a py:percent notebook, as source strings."""
    cells, cur, code = [], [], False
    for line in path.read_text().splitlines():
        if line.startswith("# %%"):
            if code:
                cells.append("\n".join(cur))
            cur, code = [], "[markdown]" not in line
        elif code:
            cur.append(line)
    if code:
        cells.append("\n".join(cur))
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_ends_with_a_figure(path):
    """A pyplot figure left as a cell's last expression is shown twice in Jupyter (its
    result, and again by the inline backend); the notebooks pass figures to ``show``."""
    for src in _code_cells(path):
        body = ast.parse(src).body
        if body and isinstance(body[-1], ast.Expr) and isinstance(body[-1].value, ast.Call):
            f = body[-1].value.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            assert not name.startswith("fig_"), f"{path.name}: cell ends with {name}(...)"


def _project_kernelspec():
    """The kernelspec JupyterLab writes into a notebook run on this venv's kernel."""
    ksm = pytest.importorskip("jupyter_client.kernelspec").KernelSpecManager()
    spec = ksm.get_kernel_spec("python3")
    return {"display_name": spec.display_name, "language": spec.language, "name": "python3"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saving_from_jupyterlab_keeps_the_source(tmp_path, path):
    """Open the notebook through jupytext's contents manager (what JupyterLab's server
    uses), let the kernel write its metadata as JupyterLab does (this venv's ``python3``
    kernelspec, the running Python's ``language_info``), save: the ``.py`` must not change
    (it is tracked; a kernel display name or jupytext version written into it would show
    up in ``git status``). The paired ``.ipynb`` is written beside it."""
    jupytext = pytest.importorskip("jupytext")
    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    (tmp_path / "notebooks").mkdir()
    dst = tmp_path / "notebooks" / path.name
    shutil.copy(path, dst)
    cm = jupytext.TextFileContentsManager(root_dir=str(tmp_path))
    rel = f"notebooks/{path.name}"
    for _ in range(2):  # the second save reads the .ipynb written by the first
        model = cm.get(rel)
        md = model["content"]["metadata"]
        md["kernelspec"] = _project_kernelspec()
        md["language_info"] = {"name": "python", "version": sys.version.split()[0],
                               "mimetype": "text/x-python", "file_extension": ".py"}
        cm.save(model, rel)
        assert dst.read_text() == path.read_text(), path.name
        assert (tmp_path / "notebooks" / path.with_suffix(".ipynb").name).exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_header_names_the_project_kernel(path):
    """A ``.py`` whose kernelspec names a kernel JupyterLab does not have opens with a
    "Select Kernel" dialog (jupytext's notebook view does not honour JupyterLab's
    auto-start setting); with the project's kernel it starts at once."""
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path)
    assert nb.metadata.get("kernelspec") == _project_kernelspec(), path.name


def test_jupyterlab_opens_notebook_sources_as_notebooks():
    """The shipped JupyterLab settings: ``.py`` files open with jupytext's notebook view,
    and ``make install`` put them where this venv's JupyterLab reads them."""
    src = ROOT / "notebooks" / "jupyterlab-overrides.json"
    settings = json.loads(src.read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"
    installed = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    if Path(sys.prefix) != ROOT / ".venv":
        pytest.skip("not running in the project's .venv")
    assert installed.exists(), "run `make install`"
    assert json.loads(installed.read_text()) == settings
