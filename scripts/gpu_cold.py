"""Where a *cold* trial's time goes on a device: each new configuration in a fresh worker
process pays for loading kernels and choosing convolution algorithms for its shapes, which
the steady-state numbers of bench_train.py --warmup-each do not show. Runs each variant in
its own fresh interpreter (caches die with it) and prints wall seconds per trial, the part
spent in epochs, and the top operators of the first trial by CPU time.

    python scripts/gpu_cold.py [--device cuda] [--configs 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import torch
from mfbench.training.data import load_dataset
from mfbench.training.space import get_space, sample_configs
from mfbench.training.train import train_trial
dev, n, cudnn, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4] == "1"
amp = None if sys.argv[5] == "auto" else sys.argv[5] == "1"
torch.backends.cudnn.enabled = cudnn
torch.backends.cudnn.deterministic = sys.argv[6] == "1"
ds = load_dataset("digits")
configs = sample_configs(get_space("cnn"), n + 40, seed=7, design="sobol")[40:]
t0 = time.perf_counter()
if dev == "cuda":
    torch.zeros(1, device="cuda")
init = time.perf_counter() - t0
rows = []
for i, c in enumerate(configs):
    c["lr_schedule"] = "constant"
    if profile and i == 0:
        from torch.profiler import ProfilerActivity, profile as prof
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev == "cuda" else [])
        with prof(activities=acts) as p:
            t = time.perf_counter(); r = train_trial(c, ds, 0, 1, device=dev, amp=amp); wall = time.perf_counter() - t
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40), file=sys.stderr)
    else:
        t = time.perf_counter(); r = train_trial(c, ds, 0, 1, device=dev, amp=amp); wall = time.perf_counter() - t
    ep = sum(e.train_seconds + e.eval_seconds for e in r.epochs)
    r2 = train_trial(c, ds, 0, 1, device=dev, amp=amp)  # the same config again: warm
    ep2 = sum(e.train_seconds + e.eval_seconds for e in r2.epochs)
    rows.append([f"{c['architecture']} w{c['width']} k{c['kernel_size']} bs{c['batch_size']}", wall, ep, ep2, r.status])
print(json.dumps({"init": init, "rows": rows}))
"""


def run(dev: str, n: int, cudnn: bool, profile: bool, amp: str = "auto", deterministic: bool = False) -> dict:
    t0 = time.perf_counter()
    args = [dev, str(n), "1" if cudnn else "0", "1" if profile else "0", amp, "1" if deterministic else "0"]
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=os.environ, check=False
    )
    if out.returncode != 0:
        print(out.stderr[-3000:])
        raise SystemExit(f"child failed ({out.returncode})")
    if profile:
        print(out.stderr[-6000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["process"] = time.perf_counter() - t0
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--configs", type=int, default=6)
    ap.add_argument(
        "--variants",
        default="cudnn,nocudnn",
        help="comma-separated: cudnn (default settings, profiled), nocudnn, fp32 (amp off), "
        "fp32det (amp off, cudnn.deterministic)",
    )
    a = ap.parse_args()
    table = {
        "cudnn": ("cudnn on, bf16 autocast", True, True, "auto", False),
        "nocudnn": ("cudnn off", False, False, "auto", False),
        "fp32": ("cudnn on, fp32 (amp off)", True, False, "0", False),
        "fp32det": ("cudnn on, fp32, cudnn.deterministic", True, False, "0", True),
        "bf16": ("cudnn on, bf16 autocast (not profiled)", True, False, "auto", False),
    }
    names = a.variants.split(",") if a.device == "cuda" else ["cudnn"]
    for key in names:
        name, cudnn, profile, amp, det = table[key]
        r = run(a.device, a.configs, cudnn, profile, amp, det)
        print(f"-- {name}: process {r['process']:.1f} s, CUDA init {r['init']:.2f} s")
        print(f"{'config':<28} {'cold trial s':>12} {'cold epoch s':>12} {'warm epoch s':>12}  status")
        for cfg, wall, ep, ep2, st in r["rows"]:
            print(f"{cfg:<28} {wall:>12.3f} {ep:>12.3f} {ep2:>12.3f}  {st}")
        tot = [sum(row[i] for row in r["rows"]) for i in (1, 2, 3)]
        print(f"{'total':<28} {tot[0]:>12.3f} {tot[1]:>12.3f} {tot[2]:>12.3f}")


if __name__ == "__main__":
    main()
