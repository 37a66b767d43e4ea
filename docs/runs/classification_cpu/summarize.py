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
    tomita: dict[tuple[str, str], dict[str, dict]] = {}
    for name, run in runs.items():
        if match := re.fullmatch(r"tomita(\d)_(\w+)_seed(\d+)", name):
            tomita.setdefault((match.group(1), match.group(2)), {})[match.group(3)] = run
    print("\n| grammar | cell | test 11-50, per seed | mean | 11–20 | 21–30 | 31–50 (means) | wall time (s, mean) |\n"
          "|---|---|---|---|---|---|---|---|")
    cells = ["rnn", "gru", "lstm"]
    for (grammar, cell), by_seed in sorted(tomita.items(), key=lambda item: (item[0][0], cells.index(item[0][1]))):
        runs_ = [by_seed[seed] for seed in sorted(by_seed, key=int)]
        bucket = {b: statistics.mean(r["buckets"].get(b, float("nan")) for r in runs_) for b in ("11–20", "21–30", "31–50")}
        per_seed = " / ".join(f"{r['accuracy']:.1f}" for r in runs_)
        print(f"| {grammar} | {cell} | {per_seed} | "
              f"{statistics.mean(r['accuracy'] for r in runs_):.1f} | {bucket['11–20']:.1f} | {bucket['21–30']:.1f} | "
              f"{bucket['31–50']:.1f} | {statistics.mean(r['seconds'] for r in runs_):.0f} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/classification"))
