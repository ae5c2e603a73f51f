"""The notebooks as a user meets them in JupyterLab.

Executing every notebook is nbmake's job (``make test``). Here: saving a notebook the
way JupyterLab does (through jupytext's contents manager, with the kernel's metadata)
leaves the tracked ``.py`` byte-identical, and its header names the project's kernel;
the project's JupyterLab settings (open a ``.py`` as a notebook) are what
``make install`` installed.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


# ---- notebooks as files ----------------------------------------------------------------


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
