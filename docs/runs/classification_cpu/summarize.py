"""Tables of the runs of run.sh: `python docs/runs/classification_cpu/summarize.py [OUT]` (default
runs/classification) prints Markdown tables and writes OUT/summary.json.

Reads each run's report (report/metrics.json: the test split's scores; report/report.md: its accuracy by input
length) and times.txt (wall time of fit + report)."""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path


def read_run(folder: Path) -> dict:
    scores = json.loads((folder / "report" / "metrics.json").read_text())["checkpoints"][0]
    report = (folder / "report" / "report.md").read_text()
    section = report.split("## Accuracy by input length")[1].split("##")[0]
    buckets = {m.group(1): float(m.group(3)) for m in re.finditer(r"^\| (\d+–\d+) \| (\d+) \| ([\d.]+) \|$", section, re.M)}
    return {"accuracy": scores["scores"]["accuracy"], "macro_f1": scores["scores"]["macro_f1"],
            "checkpoint": scores["path"], "buckets": buckets}


def main(out: Path) -> None:
    times = dict(line.rsplit(" ", 2)[:2] for line in (out / "times.txt").read_text().splitlines())
    runs = {folder.name: {**read_run(folder), "seconds": int(times.get(folder.name, -1))}
            for folder in sorted(out.iterdir()) if (folder / "report" / "metrics.json").is_file()}
    (out / "summary.json").write_text(json.dumps(runs, indent=1), encoding="utf-8")
    sst = {name: run for name, run in runs.items() if name.startswith("sst2")}
    print("| SST-2 run | test accuracy | test macro-F1 | wall time (s) |\n|---|---|---|---|")
    for name, run in sst.items():
        print(f"| {name} | {run['accuracy']:.2f} | {run['macro_f1']:.2f} | {run['seconds']} |")
    seeds = [run["accuracy"] for name, run in sst.items() if "_max_" in name]
    if len(seeds) > 1:
        print(f"\nmax pooling, {len(seeds)} seeds: mean {statistics.mean(seeds):.2f}, sd {statistics.stdev(seeds):.2f}, "
              f"min {min(seeds):.2f}, max {max(seeds):.2f}")
    tomita: dict[tuple[int, str], list[tuple[int, dict]]] = {}  # (grammar, cell) -> [(seed, run)]
    for name, run in runs.items():
        if match := re.fullmatch(r"tomita(\d)_(\w+)_seed(\d+)", name):
            tomita.setdefault((int(match.group(1)), match.group(2)), []).append((int(match.group(3)), run))
    lengths = ("11–20", "21–30", "31–50")
    print("\n| grammar | cell | test 11-50, per seed | mean | 11–20 | 21–30 | 31–50 (means) | wall time (s, mean) |\n"
          "|---|---|---|---|---|---|---|---|")
    cells = ["rnn", "gru", "lstm"]
    for grammar, cell in sorted(tomita, key=lambda key: (key[0], cells.index(key[1]))):
        cell_runs = [run for _, run in sorted(tomita[grammar, cell], key=lambda seed_run: seed_run[0])]
        per_seed = " / ".join(f"{run['accuracy']:.1f}" for run in cell_runs)
        by_length = " | ".join(f"{statistics.mean(run['buckets'].get(b, float('nan')) for run in cell_runs):.1f}"
                               for b in lengths)
        print(f"| {grammar} | {cell} | {per_seed} | {statistics.mean(run['accuracy'] for run in cell_runs):.1f} | "
              f"{by_length} | {statistics.mean(run['seconds'] for run in cell_runs):.0f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/classification"))
