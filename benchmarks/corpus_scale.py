"""Corpora of millions of pairs: preparation time, start-up, memory and training speed, against the code before.

Multi30k's training split repeated K times (validation and test unchanged) is prepared with `captra prepare`
and trained with `captra fit` of the small En->De config (limit_val_batches 0, `--steps` optimizer steps), once in
one process and once as a 2-process DDP run on the CPU (gloo). Each command is timed as a whole, its start-up as
process start -> first optimizer step (benchmarks/first_step_clock.py, which also records the process's resident
memory when training starts: data and model ready, no batch's activations yet), its peak resident memory as the
kernel's maxrss of the process (wait4), and the memory of a process tree as the sum of the processes' PSS (shared
pages counted once, split between the processes that map them), sampled every 0.1 s from /proc/PID/smaps_rollup.
The peak includes the activations of the longest batch the run happened to draw, so it varies by a few hundred MB
between runs of the same code; the memory at the start of training is what the corpus costs.
Training tokens/s is the median of the `train/tokens_per_s` windows of metrics.csv after the first.

The code before prepared corpora (`--legacy-commit`, a git worktree made by the script) runs the same fit
commands (it has no `captra prepare`: every start reads and tokenizes the corpus). Prints one JSON object.

    python benchmarks/corpus_scale.py [--ks 1 10 50 155] [--legacy-ks 1 10 50] [--steps 40] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _setup import metadata

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["configs/translation/base.yaml", "configs/translation/multi30k_en_de_small.yaml"]
DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]


def write_corpus(source: Path, target: Path, repeats: int) -> None:
    """Multi30k with its training split repeated `repeats` times (gzip level 1); the other splits linked."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.gz"):
        if path.name.startswith("train."):
            lines = gzip.decompress(path.read_bytes())
            with gzip.open(target / path.name, "wb", compresslevel=1) as handle:
                for _ in range(repeats):
                    handle.write(lines)
        elif not (target / path.name).exists():
            (target / path.name).symlink_to(path.resolve())


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return pids


def _memory(pid: int) -> dict[str, int]:
    """Rss and Pss (kB) of one process."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                values[name] = int(rest.split()[0])
    except OSError:
        pass
    return values


def run(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    """Run a command; its wall time, start-up to the first step (if it trains), peak maxrss of the command's
    process, peak summed PSS of its process tree and the peak RSS of its largest process (MB)."""
    first_step = log.with_suffix(".first_step")
    first_step.unlink(missing_ok=True)
    peaks = {"pss_tree_mb": 0.0, "rss_largest_mb": 0.0}
    pss_by_pid: dict[int, float] = {}
    start = time.time()
    with open(log, "w") as output:
        process = subprocess.Popen(command, cwd=cwd, env={**env, "CAPTRA_FIRST_STEP_FILE": str(first_step)},
                                   stdout=output, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                memory = {pid: _memory(pid) for pid in _tree(process.pid)}
                peaks["pss_tree_mb"] = max(peaks["pss_tree_mb"], sum(m.get("Pss", 0) for m in memory.values()) / 1024)
                peaks["rss_largest_mb"] = max(peaks["rss_largest_mb"], max((m.get("Rss", 0) for m in memory.values()), default=0) / 1024)
                for pid, m in memory.items():
                    pss_by_pid[pid] = max(pss_by_pid.get(pid, 0.0), m.get("Pss", 0) / 1024)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(command)}\n{log.read_text()[-3000:]}")
    result = {"seconds": round(time.time() - start, 2), "maxrss_mb": round(usage.ru_maxrss / 1024, 1),
              **{name: round(value, 1) for name, value in peaks.items()},
              "pss_per_process_mb": sorted((round(v, 1) for v in pss_by_pid.values() if v > 100), reverse=True)}
    if first_step.is_file():
        record = json.loads(first_step.read_text())
        result["startup_s"] = round(record.pop("first_step_time") - start, 2)
        result.update(record)
    return result


def tokens_per_s(run_dir: Path) -> float | None:
    rows = [float(row["train/tokens_per_s"]) for row in csv.DictReader(open(run_dir / "version_0" / "metrics.csv"))
            if row.get("train/tokens_per_s")]
    return round(statistics.median(rows[1:]), 1) if len(rows) > 1 else None


def legacy_tree(commit: str, folder: Path) -> Path:
    """A worktree of `commit` whose `captra` package holds its common/, translation/ and captioning/, so that
    `python -m captra` run inside it imports that code (the current checkout's install maps captra elsewhere)."""
    if not folder.is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder), commit], check=True,
                       capture_output=True)
        for package in ("common", "translation", "captioning"):
            (folder / "captra" / package).symlink_to(f"../{package}")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="*", default=[1, 10, 50, 155], help="repeats of the training split")
    parser.add_argument("--legacy-ks", type=int, nargs="*", default=[1, 10, 50], help="the same for the code before")
    parser.add_argument("--legacy-commit", default="8706656", help="the code before prepared corpora")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps of each training run")
    parser.add_argument("--data-dir", default="../shared/data/multi30k")
    parser.add_argument("--work", default=None, help="folder for the corpora, caches and runs (default: a new temporary one)")
    parser.add_argument("--no-ddp", action="store_true", help="skip the 2-process runs")
    args = parser.parse_args()

    work = Path(args.work or tempfile.mkdtemp(prefix="captra-corpus-scale-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bench = str(ROOT / "benchmarks")
    result: dict = {"benchmark": "corpus_scale", "configs": CONFIGS, "steps": args.steps, **metadata(), "runs": []}
    legacy = legacy_tree(args.legacy_commit, work / "legacy") if args.legacy_ks else None
    for k in sorted(set(args.ks) | set(args.legacy_ks)):
        corpus = work / f"multi30k_x{k}"
        write_corpus(ROOT / args.data_dir, corpus, k)
        common = [arg for config in CONFIGS for arg in ("-c", config)] + ["--data.data_dir", str(corpus)]
        fit = ["fit", *common, "--trainer.max_steps", str(args.steps), "--trainer.limit_val_batches", "0",
               "--trainer.log_every_n_steps", "5", "--trainer.enable_progress_bar", "false",
               "--trainer.callbacks+", "first_step_clock.FirstStepClock"]
        for code, cwd, ks in (("prepared", ROOT, args.ks), ("before", legacy, args.legacy_ks)):
            if k not in ks:
                continue
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), bench]), "XDG_CACHE_HOME": str(work / "cache")}
            row: dict = {"k": k, "pairs": 29_000 * k, "code": code}
            if code == "prepared":
                shutil.rmtree(work / "cache", ignore_errors=True)
                row["prepare"] = run([sys.executable, "-m", "captra", "prepare", *common], cwd, env, work / f"prepare_x{k}.log")
            for name, extra in [("fit", [])] + ([] if args.no_ddp else [("fit_ddp", DDP)]):
                run_dir = work / "runs" / f"{code}_x{k}_{name}"
                shutil.rmtree(run_dir, ignore_errors=True)
                row[name] = run([sys.executable, "-m", "captra", *fit, *extra, "--trainer.default_root_dir", str(run_dir)],
                                cwd, env, work / f"{code}_x{k}_{name}.log")
                row[name]["tokens_per_s"] = tokens_per_s(run_dir)
            result["runs"].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
