"""Figures saved in forked children: the same files as saving in-process, and failures reported."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from mfbench.analysis import plots
from mfbench.analysis.report.saving import FigureSaver, default_workers

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="background saving needs os.fork")


def _figure(k: int):
    fig, ax = plots.plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [k, k + 1, k * k], label=f"line {k}")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig


def test_background_saving_writes_the_same_pngs_as_saving_here(tmp_path):
    serial = [plots.save_figure(_figure(k), tmp_path / "serial", f"f{k}") for k in range(1, 4)]
    with FigureSaver(workers=2) as saver:
        forked = [saver.submit(_figure(k), tmp_path / "forked", f"f{k}") for k in range(1, 4)]
        assert all(f["base64"] == "" for f in forked)  # filled in only once the children are done
    for s, f in zip(serial, forked, strict=True):
        assert f["base64"] == s["base64"] and base64.b64decode(f["base64"]) == open(f["png"], "rb").read()
        digest = [hashlib.sha256(open(x["png"], "rb").read()).hexdigest() for x in (s, f)]
        assert digest[0] == digest[1]
        assert os.path.getsize(f["svg"]) > 1000


def test_a_figure_that_cannot_be_saved_is_an_error_naming_it(tmp_path, capfd):
    saver = FigureSaver(workers=1)
    saver.submit(_figure(1), tmp_path, "good")
    bad, ax = plots.plt.subplots()
    ax.set_title(r"$\frac{$")  # broken mathtext: fails only when drawn, i.e. in the child
    saver.submit(bad, tmp_path, "bad")
    with pytest.raises(RuntimeError, match="saving figure\\(s\\) failed: bad"):
        saver.finish()
    assert "Traceback" in capfd.readouterr().err


def test_workers_from_the_environment(monkeypatch):
    monkeypatch.setenv("MFBENCH_FIGURE_WORKERS", "0")
    assert default_workers() == 0
    monkeypatch.delenv("MFBENCH_FIGURE_WORKERS")
    assert 0 <= default_workers() <= 4


def test_with_other_threads_running_figures_are_saved_here(tmp_path):
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        files = FigureSaver(workers=2).submit(_figure(2), tmp_path, "f")
        assert files["base64"]  # saved in this process: complete at once, no child to wait for
    finally:
        stop.set()
        t.join()
