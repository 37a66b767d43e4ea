"""The formal-language table: SRN (vanilla RNN), GRU and LSTM side by side on the Reber grammar, the embedded Reber
grammar, a^n b^n and a^n b^n c^n, each trained with configs/formal_languages/base.yaml and tested on its test split
(counting languages: n = 1 .. test_max_n, trained on n <= train_max_n).

For every (language, cell) it trains one run (`captra fit`, one process each), takes its best checkpoint and reports
the test strings predicted (%), the largest size up to which every string is predicted, and the seconds taken.
Prints one JSON object, and a Markdown table on stderr.

    python benchmarks/formal_languages.py --work WORK [--languages anbn ...] [--cells lstm ...] [--epochs 30]
        [--seeds 1234 ...] [--set model.decoder.hidden_size=16 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from captra.common.checkpoints.loading import load_module
from captra.common.provenance import git_commit, machine
from captra.language_model.formal import LANGUAGES
from captra.common.report.split import run_data_module
from captra.common.task import get_task
from captra.language_model.report import correct_by_string, largest_solved

import torch

CONFIG = "configs/formal_languages/base.yaml"


def train(language: str, cell: str, seed: int, epochs: int, work: Path, settings: list[str]) -> tuple[Path, float]:
    """One run; its best checkpoint and the seconds it took."""
    root = work / f"{language}_{cell}_seed{seed}"
    command = [sys.executable, "-m", "captra", "fit", "-c", CONFIG, "--data.language", language,
               "--model.decoder.cell", cell, "--seed_everything", str(seed), "--trainer.max_epochs", str(epochs),
               "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
               *[f"--{setting}" for setting in settings]]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    versions = sorted(root.glob("version_*/checkpoints/best-*.ckpt"), key=lambda path: path.stat().st_mtime)
    if not versions:
        raise SystemExit(f"{' '.join(command)} wrote no best checkpoint under {root}")
    return versions[-1], seconds


def evaluate(checkpoint: Path) -> dict:
    """The test split of the run's own data settings (its config.yaml), scored as the report scores it."""
    module = load_module(checkpoint, task="language_model")
    data = run_data_module(get_task("language_model"), checkpoint, None)
    results = correct_by_string(module, data, "test", torch.device("cpu"))
    return {"test_predicted_percent": 100.0 * sum(correct for _, correct in results) / len(results),
            "test_strings": len(results), "largest_size_solved": largest_solved(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="folder for the runs")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=list(LANGUAGES))
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"], choices=["rnn", "gru", "lstm"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1234])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="further config settings for every run, e.g. model.decoder.hidden_size=16")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = []
    for language in args.languages:
        for cell in args.cells:
            for seed in args.seeds:
                checkpoint, seconds = train(language, cell, seed, args.epochs, args.work, args.set)
                runs.append({"language": language, "cell": cell, "seed": seed, "train_seconds": round(seconds, 1),
                             "checkpoint": checkpoint.name, **evaluate(checkpoint)})
                print(json.dumps(runs[-1]), file=sys.stderr)
    print(json.dumps({"config": CONFIG, "epochs": args.epochs, "settings": args.set, "commit": git_commit(),
                      "machine": machine(), "runs": runs}, indent=1))
    size = {name: "n" if not LANGUAGES[name].choices_scored else "length" for name in args.languages}
    lines = ["| language | cell | seed | test strings predicted | largest size solved | train s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['language']} | {r['cell']} | {r['seed']} | {r['test_predicted_percent']:.1f} % of {r['test_strings']} | "
              f"{size[r['language']]} {r['largest_size_solved']} | {r['train_seconds']:.0f} |" for r in runs]
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
