"""captra and JoeyNMT 2.3.0 side by side on this machine, in one run: Multi30k En->De at JoeyNMT's RNN size.

1. Installs JoeyNMT 2.3.0 (+ importlib-metadata, which it imports without declaring) into its own virtual
   environment under --peer-dir, never into captra's; reuses it when it is there.
2. Trains both for the same number of updates (batch 64 sentences, Adam 1e-3 held constant, dropout 0.3) on the
   same raw training data: JoeyNMT with the config in ../shared/peers/joey/ (Moses word tokens, min_freq 2);
   captra with configs/translation/multi30k_en_de_joey_size.yaml (its word tokens, min_freq 2). Training speed
   is each tool's own target-token count over its training time without validation (JoeyNMT: the windows of
   its log, timed by the log's timestamps; captra: the train/tokens_per_s and examples_per_s windows of its
   metrics.csv), and examples (sentences) per second, which does not depend on tokenisation.
3. Decodes test_2016_flickr with beam 5 in batches of 64 sentences: JoeyNMT's `translate` (its logged
   "Generation took" and the whole command's wall time), captra's search in-process (fp32, and int8 unless
   --no-int8; the search alone, as JoeyNMT's figure) and the whole `captra translate` command. Output words
   are whitespace-separated words of the detokenised outputs, counted the same way for both.
4. Scores both with sacreBLEU (cased, 13a) against the raw references.
Prints one JSON object.

    python benchmarks/peer_joeynmt.py [--steps 908] [--peer-dir ~/.cache/captra/peer_joeynmt] [--no-int8]
"""

from __future__ import annotations

import csv
import datetime
import gzip
import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import yaml
from sacrebleu.metrics import BLEU

from _setup import Stopwatch, benchmark_parser, metadata
from captra.common.checkpoints.loading import load_module
from captra.common.decoding.int8 import quantize_int8
from captra.translation.translate import translate_ids

ROOT = Path(__file__).resolve().parent.parent
JOEY_CONFIG = ROOT.parent / "shared" / "peers" / "joey" / "multi30k_en_de_rnn.yaml"
CAPTRA_CONFIGS = ["configs/translation/base.yaml", "configs/translation/multi30k_en_de_joey_size.yaml"]
SPLITS = ("train", "val", "test_2016_flickr")
BATCH = 64
BEAM = 5
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def run(command: list[str], log: Path, **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, result) of a command whose stderr goes to `log`; fails loudly with the log's tail."""
    start = time.perf_counter()
    with open(log, "w") as stderr:
        result = subprocess.run(command, stderr=stderr, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({result.returncode}); see {log}:\n"
                         + "".join(log.read_text().splitlines(keepends=True)[-15:]))
    return seconds, result


def joey_environment(peer_dir: Path) -> Path:
    """JoeyNMT 2.3.0's own virtual environment (made once)."""
    python = peer_dir / "venv" / "bin" / "python"
    if not python.exists():  # venv builds it on the base interpreter, not on captra's environment
        subprocess.run([sys.executable, "-m", "venv", str(peer_dir / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "joeynmt==2.3.0", "importlib-metadata"], check=True)
    return python


def write_raw_data(data_dir: Path, peer_dir: Path) -> Path:
    """The gunzipped Multi30k files JoeyNMT's plain dataset reads ({split}.en / {split}.de)."""
    target = peer_dir / "data"
    target.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        for lang in ("en", "de"):
            out = target / f"{split}.{lang}"
            if not out.exists():
                with gzip.open(data_dir / f"{split}.{lang}.gz", "rt", encoding="utf-8") as handle:
                    out.write_text(handle.read(), encoding="utf-8")
    return target


def logging_interval(steps: int) -> int:
    """About a quarter of the updates, dividing them (JoeyNMT requires validation_freq % logging_freq == 0)."""
    return next(size for size in range(max(1, steps // 4), 0, -1) if steps % size == 0)


def joey_config(peer_dir: Path, steps: int, model_dir: Path) -> Path:
    """The shared JoeyNMT config with this run's folders and update count; validated once, after the last update."""
    config = yaml.safe_load(JOEY_CONFIG.read_text().replace("$PEER_DIR", str(peer_dir)))
    training = config["training"]
    training.update(epochs=1000, updates=steps, validation_freq=steps, logging_freq=logging_interval(steps), overwrite=True)
    config["model_dir"] = str(model_dir)
    config["testing"]["load_model"] = str(model_dir / "best.ckpt")
    path = peer_dir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def joey_training_speed(log: Path, steps: int) -> dict[str, float]:
    """Target tokens/s and examples/s over JoeyNMT's logged windows, timed by the log's timestamps."""
    times, rates = [], []
    for line in log.read_text().splitlines():
        stamp = LOG_TIME.match(line)
        if stamp and ("EPOCH 1" in line or "Tokens per Sec:" in line):
            times.append(datetime.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
            if "Tokens per Sec:" in line:
                rates.append(float(line.split("Tokens per Sec:")[1].split(",")[0]))
    durations = [b - a for a, b in zip(times, times[1:])]
    seconds = sum(durations)
    return {"seconds": seconds, "target_tokens_per_s": sum(r * d for r, d in zip(rates, durations)) / seconds,
            "examples_per_s": steps * BATCH / seconds}


def captra_training_speed(metrics: Path) -> dict[str, float]:
    """Target tokens/s and examples/s over captra's logged windows (validation excluded by its logger)."""
    with open(metrics) as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("train/tokens_per_s")]
    # every window holds the same number of examples: its time is proportional to 1 / examples_per_s
    times = [1.0 / float(row["train/examples_per_s"]) for row in rows]
    tokens = [float(row["train/tokens_per_s"]) * seconds for row, seconds in zip(rows, times)]
    return {"target_tokens_per_s": sum(tokens) / sum(times), "examples_per_s": len(rows) / sum(times)}


def words(lines: list[str]) -> int:
    return sum(len(line.split()) for line in lines)


def bleu(hypotheses: list[str], references: list[str]) -> dict[str, object]:
    metric = BLEU()
    return {"bleu": round(metric.corpus_score(hypotheses, [references]).score, 2), "signature": str(metric.get_signature())}


def captra_decoding(checkpoint: Path, sources: list[str], int8: bool) -> tuple[dict, list[str]]:
    """Beam 5, batches of 64, the search alone (as JoeyNMT's 'Generation took'); its outputs."""
    module = load_module(checkpoint)
    if int8:
        module = quantize_int8(module)
    encoded = [module.texts["src"].encode(line) for line in sources]
    config = replace(module.search_config, strategy="beam", beam_size=BEAM, n_best=1)
    with Stopwatch() as watch:
        outputs = [nbest[0] for nbest in translate_ids(module, encoded, config, BATCH, torch.device("cpu"))]
    return {"seconds": watch.seconds, "sentences_per_s": len(sources) / watch.seconds,
            "output_words_per_s": words(outputs) / watch.seconds, "output_words": words(outputs)}, outputs


def main() -> None:
    parser = benchmark_parser(__doc__, data_dir="../shared/data/multi30k")
    parser.add_argument("--steps", type=int, default=908, help="training updates of each tool (default: 908, 2 epochs)")
    parser.add_argument("--peer-dir", type=Path, default=Path.home() / ".cache" / "captra" / "peer_joeynmt",
                        help="JoeyNMT's virtual environment, data and runs")
    parser.add_argument("--no-int8", action="store_true", help="skip captra's int8 decoding")
    args = parser.parse_args()
    peer_dir = args.peer_dir.resolve()
    peer_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(args.data_dir).resolve()
    python = joey_environment(peer_dir)
    raw = write_raw_data(data_dir, peer_dir)
    sources = (raw / "test_2016_flickr.en").read_text(encoding="utf-8").splitlines()
    references = (raw / "test_2016_flickr.de").read_text(encoding="utf-8").splitlines()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict[str, object] = {"machine": metadata(), "steps": args.steps, "batch_sentences": BATCH, "beam": BEAM,
                                 "torch_threads": torch.get_num_threads()}

    # --- JoeyNMT ---------------------------------------------------------------------------------------------
    model_dir = peer_dir / f"model-{stamp}"
    config = joey_config(peer_dir, args.steps, model_dir)
    train_wall, _ = run([str(python), "-m", "joeynmt", "train", str(config), "--skip-test"], peer_dir / "train.stderr")
    joey_train = {"command_seconds": train_wall, **joey_training_speed(model_dir / "train.log", args.steps)}
    with open(raw / "test_2016_flickr.en") as stdin:
        decode_wall, decoded = run([str(python), "-m", "joeynmt", "translate", str(config)],
                                   peer_dir / "translate.stderr", stdin=stdin, stdout=subprocess.PIPE)
    joey_outputs = decoded.stdout.splitlines()
    generation = float(re.search(r"Generation took ([\d.]+)\[sec\]", (peer_dir / "translate.stderr").read_text()).group(1))
    joey_decode = {"seconds": generation, "sentences_per_s": len(sources) / generation,
                   "output_words_per_s": words(joey_outputs) / generation, "output_words": words(joey_outputs),
                   "command_seconds": decode_wall, "unk_lines": sum("<unk>" in line for line in joey_outputs)}
    result["joeynmt"] = {"version": "2.3.0", "training": joey_train, "beam5": joey_decode, **bleu(joey_outputs, references)}

    # --- captra ----------------------------------------------------------------------------------------------
    root = peer_dir / f"captra-{stamp}"
    configs = [word for config in CAPTRA_CONFIGS for word in ("-c", str(ROOT / config))]
    train_wall, _ = run([sys.executable, "-m", "captra", "fit", *configs, "--data.data_dir", str(data_dir),
                         "--trainer.max_steps", str(args.steps), "--trainer.max_epochs", "-1",
                         "--trainer.limit_val_batches", "0", "--trainer.log_every_n_steps", str(logging_interval(args.steps)),
                         "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(root)],
                        root.with_suffix(".stderr"), cwd=ROOT)
    checkpoint = root / "version_0" / "checkpoints" / "last.ckpt"
    captra_train = {"command_seconds": train_wall, **captra_training_speed(root / "version_0" / "metrics.csv")}
    fp32, captra_outputs = captra_decoding(checkpoint, sources, int8=False)
    translate_wall, _ = run([sys.executable, "-m", "captra", "translate", "--ckpt", str(checkpoint), "--input",
                             str(raw / "test_2016_flickr.en"), "--beam", str(BEAM), "--batch-size", str(BATCH),
                             "--device", "cpu"], root.with_suffix(".translate.stderr"), cwd=ROOT, stdout=subprocess.DEVNULL)
    fp32["command_seconds"] = translate_wall
    captra: dict[str, object] = {"commit": metadata()["commit"], "training": captra_train, "beam5": fp32,
                                 **bleu(captra_outputs, references)}
    if not args.no_int8:
        int8, int8_outputs = captra_decoding(checkpoint, sources, int8=True)
        captra["beam5_int8"] = {**int8, **bleu(int8_outputs, references),
                                "outputs_differing_from_fp32": sum(a != b for a, b in zip(captra_outputs, int8_outputs)),
                                "speedup_over_fp32": int8["sentences_per_s"] / fp32["sentences_per_s"]}
    result["captra"] = captra

    # --- ratios (captra / JoeyNMT) -----------------------------------------------------------------------------
    ratios = {
        "training_target_tokens_per_s": captra_train["target_tokens_per_s"] / joey_train["target_tokens_per_s"],
        "training_examples_per_s": captra_train["examples_per_s"] / joey_train["examples_per_s"],
        "beam5_sentences_per_s": fp32["sentences_per_s"] / joey_decode["sentences_per_s"],
        "beam5_output_words_per_s": fp32["output_words_per_s"] / joey_decode["output_words_per_s"],
    }
    if "beam5_int8" in captra:
        ratios["beam5_int8_sentences_per_s"] = captra["beam5_int8"]["sentences_per_s"] / joey_decode["sentences_per_s"]
        ratios["beam5_int8_output_words_per_s"] = captra["beam5_int8"]["output_words_per_s"] / joey_decode["output_words_per_s"]
    result["captra_over_joeynmt"] = {name: round(value, 3) for name, value in ratios.items()}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
