"""`captra`: LightningCLI for fit / validate / test / predict, plus the inference commands.

    captra fit -c configs/translation/multi30k_en_de.yaml [--trainer.max_epochs 3 ...]
    captra translate --ckpt run.ckpt [--input FILE] [--beam 5]
    captra caption IMAGE [IMAGE ...] --ckpt run.ckpt [--beam 3] [--attention-map OUT.png]
    captra report --ckpt run.ckpt [--ckpt other.ckpt] --split test --out reports/NAME
Also runnable as `python -m common.cli ...`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

from common.checkpoint import CheckpointError
from common.checkpoint_io import AtomicCheckpointIO
from common.csv_log import ContinuingCSVLogger
from common.module import Seq2SeqModule
from common.textfile import DataError
from common.throughput import ThroughputLogger

# name -> (module with add_arguments/run, help)
INFERENCE_COMMANDS = {
    "translate": ("translation.translate", "translate a file or stdin with a translation checkpoint"),
    "caption": ("captioning.caption", "caption image files with a captioning checkpoint"),
    "report": ("common.report.command", "decode a split with checkpoints and write a BLEU evaluation report"),
}


def run_versions(root: Path, pattern: str = "") -> dict[int, Path]:
    """N -> path for every `version_N{pattern}` under a run folder (pattern e.g. "/checkpoints/last.ckpt")."""
    versions = {}
    for path in root.glob(f"version_*{pattern}"):
        name = path.relative_to(root).parts[0].split("_", 1)[1]
        if name.isdigit():
            versions[int(name)] = path
    return versions


def next_version(root: Path) -> int:
    """The first unused `version_N` under a run folder."""
    return max(run_versions(root), default=-1) + 1


def newest_last_checkpoint(root: Path) -> tuple[Path, int] | None:
    """The most recently written `version_N/checkpoints/last.ckpt` under a run folder, and its N."""
    found = run_versions(root, "/checkpoints/last.ckpt")
    if not found:
        return None
    version = max(found, key=lambda n: found[n].stat().st_mtime)
    return found[version], version


class CaptraCLI(LightningCLI):
    """LightningCLI with BLEU-driven checkpointing / early stopping and TensorBoard + CSV logs.

    `captra fit ... --ckpt_path last` resumes the newest run under `trainer.default_root_dir` from its
    last.ckpt (model, optimizer, scheduler, callbacks, loop position) and keeps logging into that run's folder.
    """

    resume_version: int | None = None
    resume_step: int | None = None

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.text", "model.init_args.text", apply_on="instantiate")
        # The data modules split batches across DDP ranks themselves (see common/batching.py).
        parser.set_defaults({"trainer.use_distributed_sampler": False})
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": Seq2SeqModule.monitor,
            "checkpoint.mode": "max",
            "checkpoint.save_top_k": 1,
            "checkpoint.save_last": True,
            "checkpoint.filename": "best-epoch{epoch:02d}-step{step}-bleu{val/bleu:.2f}",
            "checkpoint.auto_insert_metric_name": False,
            "checkpoint.enable_version_counter": False,  # one last.ckpt per run folder, shared with step_checkpoint
        })
        parser.add_lightning_class_args(ModelCheckpoint, "step_checkpoint")
        parser.set_defaults({  # off unless every_n_train_steps > 0: then last.ckpt is also refreshed every N steps
            "step_checkpoint.every_n_train_steps": 0,
            "step_checkpoint.every_n_epochs": 0,
            "step_checkpoint.save_top_k": 0,
            "step_checkpoint.save_last": True,
            "step_checkpoint.monitor": None,
            "step_checkpoint.enable_version_counter": False,  # refresh the same last.ckpt as `checkpoint`
        })
        parser.add_lightning_class_args(ThroughputLogger, "throughput")  # train/tokens_per_s, train/examples_per_s
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.set_defaults({
            "early_stopping.monitor": Seq2SeqModule.monitor,
            "early_stopping.mode": "max",
            "early_stopping.patience": 5,
        })

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        self.command_line = list(sys.argv[1:] if args is None else args) if not isinstance(args, dict) else []
        super().parse_arguments(parser, args)

    def _parse_ckpt_path(self) -> None:
        """With `--ckpt_path`, the model is rebuilt from the checkpoint's hyper-parameters (its weights need
        that architecture), but decoding settings given on the command line (`--model.search.*`) still apply."""
        subcommand = self.config.get("subcommand")
        before = self.config.clone() if subcommand else None
        super()._parse_ckpt_path()
        if before is None:
            return
        pattern = re.compile(r"^--model\.(?:init_args\.)?search\.(\w+)")
        for word in self.command_line:
            if match := pattern.match(word):
                key = f"{subcommand}.model.init_args.search.{match.group(1)}"
                self.config[key] = before[key]

    def before_instantiate_classes(self) -> None:
        if self.subcommand != "fit" or self.config["fit"].get("ckpt_path") != "last":
            return
        root = Path(self.config["fit"]["trainer"].get("default_root_dir") or "runs")
        found = newest_last_checkpoint(root)
        if found is None:
            print(f"captra: no {root}/version_*/checkpoints/last.ckpt to resume from: starting a new run", file=sys.stderr)
            self.config["fit"]["ckpt_path"] = None
            return
        path, self.resume_version = found
        self.resume_step = int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["global_step"])
        print(f"captra: resuming from {path} (step {self.resume_step})", file=sys.stderr)
        self.config["fit"]["ckpt_path"] = str(path)

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Unless the config names loggers, log to TensorBoard and CSV in `default_root_dir/version_N`;
        unless it names plugins, save checkpoints atomically."""
        if config.get("logger") in (None, True):
            root = Path(config.get("default_root_dir") or "runs")
            version = next_version(root) if self.resume_version is None else self.resume_version
            config["logger"] = [  # CSV first: it creates the shared folder, TensorBoard then adds to it
                ContinuingCSVLogger(root, name="", version=version, resume_step=self.resume_step),
                TensorBoardLogger(root, name="", version=version),
            ]
        if config.get("plugins") is None:
            config["plugins"] = [AtomicCheckpointIO()]  # a failed save never damages the previous checkpoint
        return super()._instantiate_trainer(config, callbacks)


def run_lightning(argv: list[str] | None) -> CaptraCLI:
    """LightningCLI on `argv` (None: the command line)."""
    return CaptraCLI(
        model_class=Seq2SeqModule,
        subclass_mode_model=True,
        datamodule_class=None,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=argv,
        auto_configure_optimizers=False,
    )


def run_inference(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="captra", description="captra inference commands")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in INFERENCE_COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(command)
    args = parser.parse_args(argv)
    try:
        return importlib.import_module(INFERENCE_COMMANDS[args.command][0]).run(args)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"captra {args.command}: error: {error}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> None:
    words = sys.argv[1:] if argv is None else argv
    if words and words[0] in INFERENCE_COMMANDS:
        sys.exit(run_inference(words))
    try:
        run_lightning(argv)
    except (CheckpointError, DataError) as error:
        print(f"captra: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
