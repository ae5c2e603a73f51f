"""Figures build and are byte-identical across runs; the CLI entry points work."""

import hashlib
import subprocess
import sys

import pytest

from pvqmodel.figures import REGISTRY, build_all


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir())}


def test_every_seed_figure_builds(tmp_path):
    names = ["seed-table", "seed-per-op", "seed-pv-ratio", "analytic-fits"]
    assert set(names) <= set(REGISTRY)
    paths = build_all(tmp_path, names=names)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    assert all(p.stat().st_size > 5000 for p in paths)


def test_figures_are_byte_identical_across_two_processes(tmp_path):
    names = ["seed-per-op", "analytic-fits"]
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        subprocess.run([sys.executable, "-m", "pvqmodel", "figures", "--quiet",
                        "--out", str(out), "--only", *names], check=True)
        runs.append(_digests(out))
    assert runs[0] == runs[1]
    assert len(runs[0]) == 2 * len(names)


def test_unknown_figure_name_is_named():
    with pytest.raises(ValueError, match="no-such-figure"):
        build_all("/tmp", names=["no-such-figure"])


def test_cli_help_and_table():
    out = subprocess.run([sys.executable, "-m", "pvqmodel", "--help"], check=True,
                         capture_output=True, text=True).stdout
    for cmd in ("table", "fit", "figures", "reproduce"):
        assert cmd in out
    table = subprocess.run([sys.executable, "-m", "pvqmodel", "table"], check=True,
                           capture_output=True, text=True).stdout
    assert "11323" in table and "ns_per_op" in table


def test_cli_fit_writes_tables(tmp_path):
    subprocess.run([sys.executable, "-m", "pvqmodel", "fit", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    assert (tmp_path / "analytic_fit_points.csv").read_text().count("\n") == 41
