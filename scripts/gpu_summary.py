"""The one summary table of a gpu_check.sh log (run by it at the end; also on a saved log).

python scripts/gpu_summary.py scripts/results/gpu_check_h200_2026-11-27_b.txt
"""

from __future__ import annotations

import re
import sys


def summary(text: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []

    def find(pattern: str) -> re.Match | None:
        return re.search(pattern, text, re.MULTILINE)

    if m := find(r"^(NVIDIA [^,]+), (\d+) MiB"):
        rows.append(("device", f"{m.group(1)}, {int(m.group(2)) // 1024} GiB"))
    if m := find(r"finite: (\w+)"):
        rows.append(("CUDA trial finite", m.group(1)))
    if m := find(r"same seed twice in one process, max \|diff val_loss\|: (\S+)"):
        rows.append(("same seed twice: max |diff val_loss|", m.group(1)))
    if m := find(r"max \|diff\| vs alone: (\S+)"):
        rows.append(("packed vs alone: max |diff val_acc|", m.group(1)))
    if m := find(r"ours ([\d.]+) epochs/s, naive ([\d.]+) epochs/s, speed-up ([\d.]+)x"):
        rows.append(("one trial, digits: ours / naive epochs/s", f"{m.group(1)} / {m.group(2)} = {m.group(3)}x"))
    if m := find(r"without autocast/channels_last: ([\d.]+) epochs/s.*?([\d.]+)x over ours"):
        rows.append(("one trial, digits, fp32 instead of bf16", f"{m.group(1)} epochs/s ({m.group(2)}x)"))
    if m := find(r"ours in (\w+) instead.*?: ([\d.]+) epochs/s.*?([\d.]+)x over the default"):
        rows.append((f"one trial, digits, {m.group(1)} instead", f"{m.group(2)} epochs/s ({m.group(3)}x the default)"))
    for m in re.finditer(
        r"^collect: (\d+) epochs in [\d.]+ s = ([\d.]+) epochs/s \((\d+) trials per GPU", text, re.MULTILINE
    ):
        rows.append((f"collect, digits, {m.group(3)} trials per GPU", f"{m.group(2)} epochs/s"))
    if m := find(r"speed-up of collect over the naive loop: ([\d.]+)x"):
        rows.append(("collect vs naive loop (digits)", f"{m.group(1)}x"))
    for m in re.finditer(
        r"trainer (\w+),(?: --fuse \w+,)? (\d+) seed\(s\)\)[^\n]*\n(?:.*\n)*?collect/naive ratio: ([\d.]+)", text
    ):
        rows.append((f"collect/naive, digits, trainer {m.group(1)}, {m.group(2)} seeds", f"{m.group(3)}x"))
    for m in re.finditer(
        r"random32 in-process(?: \((\w+), \d+ seed\(s\)\))?: ([\d.]+) epochs/s, ([\d.]+) model "
        r"TFLOP/s, MFU ([\d.]+) %",
        text,
    ):
        how = f" ({m.group(1)})" if m.group(1) else ""
        rows.append((f"ResNet-18-sized, 32x32{how}: epochs/s, TFLOP/s", f"{m.group(2)}, {m.group(3)}"))
        rows.append((f"ResNet-18-sized, 32x32{how}: MFU (bf16 dense peak)", f"{m.group(4)} %"))
    if m := find(r"^naive loop: [\d.]+ epochs/s; speed-up ([\d.]+)x"):
        rows.append(("ResNet-18-sized, 32x32: vs naive loop", f"{m.group(1)}x"))
    return rows


def main() -> None:
    text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
    rows = summary(text)
    width = max((len(k) for k, _ in rows), default=10)
    print("== summary")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
