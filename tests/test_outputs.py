"""Atomic writes leave the old file or the new one, never a partial one nor a temporary
file; the reproduce manifest detects missing, modified, untracked outputs and changed
inputs."""

import json
import os
import stat

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from pvqmodel import outputs
from pvqmodel.figures.save import save_figure
from pvqmodel.outputs import (
    atomic_path,
    build_manifest,
    check_manifest,
    format_status,
    write_csv,
    write_json,
    write_manifest,
    write_text,
)


class Boom(Exception):
    pass


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("exc", [Boom, KeyboardInterrupt])
def test_failure_mid_write_keeps_the_old_file_and_no_temp(tmp_path, exc):
    target = tmp_path / "table.csv"
    target.write_text("old contents\n")
    with pytest.raises(exc):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp != target and tmp.suffix == ".csv"
            tmp.write_text("half a ta")
            raise exc()
    assert target.read_text() == "old contents\n"
    assert _names(tmp_path) == ["table.csv"]


def test_failure_with_no_old_file_leaves_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "sub" / "new.json") as tmp:
            tmp.write_text("{")
            raise Boom()
    assert _names(tmp_path / "sub") == []


def test_successful_writes_replace_and_get_normal_permissions(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})
    p = write_csv(df, tmp_path / "x.csv")
    pd.testing.assert_frame_equal(pd.read_csv(p), df)
    write_json(tmp_path / "x.json", {"k": [1, 2]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"k": [1, 2]}
    write_text(tmp_path / "x.json", "replaced\n")
    assert (tmp_path / "x.json").read_text() == "replaced\n"
    assert _names(tmp_path) == ["x.csv", "x.json"]
    umask = os.umask(0o022)
    os.umask(umask)
    # not mkstemp's 0o600: what open(path, "w") would have created
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_figure_save_interrupted_keeps_the_old_figure(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    first = save_figure(fig, tmp_path, "f", formats=("png",))[0]
    old = first.read_bytes()
    fig2, ax2 = plt.subplots()
    ax2.plot([0, 1], [1, 0])

    def broken_savefig(path, **kw):  # writes part of the file, then is interrupted
        with open(path, "wb") as f:
            f.write(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(fig2, "savefig", broken_savefig)
    with pytest.raises(KeyboardInterrupt):
        save_figure(fig2, tmp_path, "f", formats=("png",))
    assert first.read_bytes() == old
    assert _names(tmp_path) == ["f.png"]


def test_preset_save_is_atomic(tmp_path, monkeypatch):
    """An interrupt after the new preset's bytes are written but before the rename
    (here: in the fsync) leaves the old preset untouched."""
    from pvqmodel import params

    monkeypatch.setattr(params, "HARDWARE", tmp_path)
    hw, wl = params.Hardware(), params.Workload()
    path = params.save_preset("test-preset", hw, wl, {"v": 1})
    old = open(path).read()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        params.save_preset("test-preset", hw.replace(rmw_ns=9.0), wl, {"v": 2},
                           overwrite=True)
    assert open(path).read() == old
    assert _names(tmp_path) == ["test-preset.json"]


def test_manifest_reports_each_kind_of_difference(tmp_path):
    out, raw = tmp_path / "out", tmp_path / "raw"
    out.mkdir()
    raw.mkdir()
    a, b = write_text(out / "a.csv", "1\n"), write_text(out / "b.png", "png")
    write_text(out / "README.md", "what this folder holds\n")  # not an output
    inp = write_text(raw / "in.csv", "x\n")
    man = out / "MANIFEST.json"
    write_manifest(man, [a, b], inputs=[inp], output_dirs=[out], settings={"k": 1})
    doc = json.loads(man.read_text())
    assert set(doc["versions"]) >= {"python", "numpy", "pandas", "numba", "pvqmodel"}
    assert set(doc["git"]) == {"revision", "dirty"}
    assert len(doc["outputs"]) == 2 and len(doc["inputs"]) == 1

    rep = check_manifest(man, inputs=[inp])
    assert rep["ok"], format_status(rep)
    assert "all outputs match" in format_status(rep)

    a.write_text("2\n")  # rebuilt by another run
    b.unlink()
    write_text(out / "stale.pdf", "old")
    inp.write_text("y\n")
    rep = check_manifest(man, inputs=[inp])
    assert not rep["ok"]
    assert [k.rsplit("/", 1)[-1] for k in rep["modified"]] == ["a.csv"]
    assert [k.rsplit("/", 1)[-1] for k in rep["missing"]] == ["b.png"]
    assert [k.rsplit("/", 1)[-1] for k in rep["untracked"]] == ["stale.pdf"]
    assert [k.rsplit("/", 1)[-1] for k in rep["inputs_changed"]] == ["in.csv"]
    text = format_status(rep)
    for word in ("modified output", "missing output", "untracked", "changed input",
                 "do NOT all come from one complete run"):
        assert word in text

    man.unlink()
    rep = check_manifest(man, inputs=[inp])
    assert not rep["found"] and not rep["ok"]
    assert "did not finish" in format_status(rep)


def test_manifest_keys_are_repository_relative():
    from pvqmodel.paths import RAW

    doc = build_manifest([], inputs=outputs.input_files())
    assert doc["inputs"] and all(not k.startswith("/") for k in doc["inputs"])
    assert any(k.startswith("data/raw/") for k in doc["inputs"])
    assert any(k.startswith("data/hardware/") for k in doc["inputs"])
    assert len([k for k in doc["inputs"] if k.startswith("data/raw/")]) == len(
        [p for p in RAW.iterdir() if p.is_file() and not p.name.startswith(".")])
