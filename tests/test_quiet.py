"""A quiet terminal: what a run's libraries print, log or warn goes to the study's log files
(counted in the manifest), the terminal shows the progress and the summary; --verbose shows all."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

from mfbench.core.runlog import capture, notices
from mfbench.optimizers.native.random_search import RandomSearch

REPO = Path(__file__).resolve().parents[1]
NOISE = ("noisy-print-stdout", "noisy-fd2-write", "noisy-warning", "noisy-log")


class NoisyOptimizer(RandomSearch):
    """Random search that makes noise the ways libraries do, on its first ask: a print, a raw
    write to descriptor 2 (as C code or a handler bound at import would), a warning, a log
    warning that says the space is exhausted."""

    name = "noisy"

    def ask(self):
        if not getattr(self, "_noisy", False):
            self._noisy = True
            print("noisy-print-stdout", flush=True)
            os.write(2, b"noisy-fd2-write\n")
            warnings.warn("noisy-warning", UserWarning, stacklevel=1)
            logging.getLogger("some.library").warning("noisy-log: no unseen configuration (space exhausted?)")
        return super().ask()


NOISY = f"{__name__}:NoisyOptimizer"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "mfbench", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


ARGS = [
    "replay",
    "--benchmarks",
    "synthetic-grid",
    "--optimizers",
    f"random,{NOISY}",
    "--seeds",
    "0,1",
    "--budget",
    "5x",
    "--jobs",
    "1",
    "--no-report",
]


def test_library_noise_goes_to_the_run_logs_not_the_terminal(tmp_path):
    out = tmp_path / "study"
    proc = _cli(*ARGS, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    terminal = proc.stdout + proc.stderr
    for noise in NOISE[:3]:
        assert noise not in terminal, terminal
    # what the terminal shows: the progress (lines, not a terminal here), the summary, and the
    # exhausted space once for the optimizer (not once per run)
    assert "runs 4/4: ok 4, failed 0" in terminal
    assert "noisy" in proc.stdout and "random" in proc.stdout
    assert terminal.count("note: noisy: exhausted the space of synthetic-grid") == 1
    assert terminal.count("noisy-log") == 1
    for seed in (0, 1):
        text = (out / "logs" / f"synthetic-grid__noisy__{seed}.log").read_text()
        for noise in NOISE:
            assert noise in text, text
    assert not (out / "logs" / "synthetic-grid__random__0.log").exists()  # a silent run leaves no file
    man = json.loads((out / "manifest.json").read_text())
    logs = {(r["optimizer"], r["seed"]): r["log"] for r in man["runs"]}
    assert logs[("noisy", 0)]["lines"] >= 4 and logs[("noisy", 0)]["warnings"] == 1
    assert logs[("noisy", 0)]["logged"] == 1 and logs[("noisy", 0)]["file"].endswith("synthetic-grid__noisy__0.log")
    assert logs[("random", 0)]["lines"] == 0 and logs[("random", 0)]["file"] is None


def test_verbose_shows_everything(tmp_path):
    proc = _cli(*ARGS, "--out", str(tmp_path / "study"), "--verbose", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for noise in NOISE:
        assert noise in proc.stdout + proc.stderr
    assert not (tmp_path / "study" / "logs").exists()


def test_bad_input_stays_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "study"
    proc = _cli("replay", "--benchmarks", "synthetic-grid", "--optimizers", "nope", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown optimizer 'nope'" in proc.stderr
    assert not out.exists()


def test_capture_counts_and_restores(tmp_path, capfd):
    path = tmp_path / "x.log"
    with capture(path) as counts:
        os.write(1, b"one\n")
        warnings.warn("two", UserWarning, stacklevel=1)
    os.write(1, b"after\n")
    assert counts["lines"] >= 2 and counts["warnings"] == 1
    assert "one" in path.read_text() and "after" in capfd.readouterr().out
    with capture(tmp_path / "empty.log"):
        pass
    assert not (tmp_path / "empty.log").exists()


def test_notices_once_per_optimizer():
    runs = [
        {
            "benchmark": "b",
            "optimizer": "ga-mf",
            "seed": s,
            "stopped_by": "budget",
            "log": {"notable": ["ga-mf: no unseen configuration found (space exhausted?)"]},
        }
        for s in range(3)
    ]
    runs += [
        {"benchmark": "b", "optimizer": "grid", "seed": 0, "stopped_by": "exhausted", "log": None},
        {"benchmark": "b", "optimizer": "random", "seed": 0, "stopped_by": "budget", "log": None},
    ]
    lines = notices(runs)
    assert len(lines) == 2
    assert lines[0].startswith("ga-mf: exhausted the space of b, ran out of new configurations in 3")
    assert lines[1] == "grid: exhausted the space of b, stopped early in 1 of its 1 runs: every configuration evaluated"


_ON_A_TERMINAL = """
import logging, sys, threading, warnings
from mfbench.core.progress import RunProgress
from mfbench.core.runlog import preparing, quiet_terminal

with quiet_terminal(sys.argv[1]):
    preparing("loading")
    print("noise-while-loading", flush=True)
    warnings.warn("warning-while-loading", UserWarning, stacklevel=1)
    with RunProgress(2) as bar:
        print("noise-under-the-bar", flush=True)
        t = threading.Thread(target=lambda: warnings.warn("warning-from-a-thread", UserWarning, stacklevel=1))
        t.start()
        t.join()
        bar.advance("ok")
        bar.advance("ok")
print("after", flush=True)
"""


def test_a_terminal_shows_the_bar_not_the_drivers_noise(tmp_path):
    """On a real terminal (a pseudo-terminal here) the spinner and the progress bar are rich live
    displays, which by default print Python's stdout/stderr writes (a warning from loky's worker
    manager thread, a library's print) above themselves, on the terminal; they must go to the
    study's replay.log."""
    import pty
    import select

    master, slave = pty.openpty()
    log = tmp_path / "replay.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _ON_A_TERMINAL, str(log)], stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    os.close(master)
    seen = out.decode(errors="replace")
    assert "2/2" in seen and "after" in seen  # the bar and what follows the study are on the terminal
    noise = ("noise-while-loading", "warning-while-loading", "noise-under-the-bar", "warning-from-a-thread")
    for text in noise:
        assert text not in seen, seen
        assert text in log.read_text()
