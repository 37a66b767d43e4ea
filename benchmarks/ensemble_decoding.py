"""Single checkpoints, averaged checkpoints and ensembles of one task side by side: scores and decoding speed.

Each `--system` is a checkpoint, or an ensemble of checkpoints joined by '+' (as in `captra report`); all are
decoded on one split with the same search, through the code `captra report` decodes with, and scored with the
task's metrics (with their signatures). With `--tune-length-penalty A,B,...` each system's length penalty is
chosen on the validation split by the task's main metric first, then used on the split. Prints one JSON object.

    python benchmarks/ensemble_decoding.py --system A.ckpt --system averaged.ckpt --system A.ckpt+B.ckpt \
        [--split test] [--beam 5] [--length-penalty 0.6 | --tune-length-penalty 0,0.5,1,1.5] [--batch-size 64] \
        [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from _setup import Stopwatch, benchmark_parser, metadata
from captra.common.checkpoints.loading import checkpoint_task, load_ensemble, read_checkpoint
from captra.common.decoding.settings import SearchConfig
from captra.common.cli.inference import decoding_config
from captra.common.report.split import SplitData, load_split


def decode_and_score(task, model, data: SplitData, config, batch_size: int, device: torch.device) -> dict[str, object]:
    """The model's outputs on the split, scored, with the decoding time (the search and its encoder only)."""
    with Stopwatch(device) as watch:
        outputs = task.report.decode(model, data, config, batch_size, device)
    words = sum(len(text.split()) for text in outputs)
    return {"seconds": watch.seconds, "examples_per_s": len(outputs) / watch.seconds,
            "output_words_per_s": words / watch.seconds, **model.score(outputs, data.references)}


def search(model, args: argparse.Namespace, length_penalty: float | None) -> SearchConfig:
    """The system's search settings with the command line's beam, length penalty and <unk> rule."""
    config = decoding_config(model.search_config, args.beam, length_penalty=length_penalty)
    return config if args.allow_unk is None else replace(config, allow_unk=args.allow_unk == "true")


def main() -> None:
    parser = benchmark_parser(__doc__, batch_size=64)
    parser.add_argument("--system", action="append", required=True, help="CKPT, or CKPT+CKPT+... for an ensemble")
    parser.add_argument("--split", default="test", help="test, val (the run's) or a split name")
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the checkpoint's)")
    parser.add_argument("--length-penalty", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument("--tune-length-penalty", default=None, metavar="A,B,...",
                        help="choose each system's length penalty among these on the validation split")
    parser.add_argument("--allow-unk", choices=["true", "false"], default=None,
                        help="may <unk> be written (default: the checkpoint's; set it to compare checkpoints of "
                             "different settings, e.g. captioning runs from before allow_unk existed)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: from the run's config.yaml)")
    args = parser.parse_args()
    device = torch.device(args.device)
    results = []
    for system in args.system:
        paths = [Path(part) for part in system.split("+")]
        first = read_checkpoint(paths[0])
        task = checkpoint_task(paths[0], first)
        model = load_ensemble(paths, task.name, first=first).to(device)
        config = search(model, args, args.length_penalty)
        result: dict[str, object] = {"system": system, "members": len(paths)}
        if args.tune_length_penalty:
            validation = load_split(task, paths[0], "val", args.data_dir)
            tuning = {}
            for alpha in (float(word) for word in args.tune_length_penalty.split(",")):
                tuning[alpha] = decode_and_score(task, model, validation, search(model, args, alpha), args.batch_size,
                                                 device)[task.main_metric]
            best = max(tuning, key=tuning.get)
            result["length_penalty_tuning"] = {"split": validation.name, "metric": task.main_metric,
                                               "scores": {str(alpha): score for alpha, score in tuning.items()}}
            config = search(model, args, best)
        data = load_split(task, paths[0], args.split, args.data_dir)
        result.update({"split": data.name, "examples": len(data.inputs), "beam": config.beam_size,
                       "length_penalty": config.length_penalty, "allow_unk": config.allow_unk,
                       **decode_and_score(task, model, data, config, args.batch_size, device)})
        print(json.dumps(result), flush=True, file=sys.stderr)  # progress: each system as it is done
        results.append(result)
    print(json.dumps({"benchmark": "ensemble_decoding", "machine": metadata(), "batch_size": args.batch_size,
                      "torch_threads": torch.get_num_threads(), "systems": results}, indent=2))


if __name__ == "__main__":
    main()
