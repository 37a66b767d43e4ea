"""`captra`: LightningCLI for fit / validate / test / predict, plus the commands that serve checkpoints.

    captra fit -c configs/translation/base.yaml -c configs/translation/multi30k_en_de.yaml [--trainer.max_epochs 3 ...]
    captra translate --ckpt run.ckpt [--input FILE] [--beam 5]
    captra caption IMAGE [IMAGE ...] --ckpt run.ckpt [--beam 3] [--attention-map OUT.png]
    captra report --ckpt run.ckpt [--ckpt other.ckpt] --split test --out reports/NAME
    captra average last.ckpt best-a.ckpt best-b.ckpt --out averaged.ckpt
    captra prepare -c configs/translation/base.yaml -c configs/translation/multi30k_en_de.yaml
The inference commands come from the registered tasks (captra.common.task); serve, report and average are the core's.
Also runnable as `python -m captra ...`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

import captra
from captra.common.checkpoints import average as average_command
from captra.common.checkpoints.loading import CheckpointError, checkpoint_task, load_module, read_checkpoint
from captra.common.checkpoints.file import module_hparams
from captra.common.checkpoints.atomic import AtomicCheckpointIO
from captra.common.cli.config_files import overlay_alone
from captra.common.training.csv_log import ContinuingCSVLogger
from captra.common.training.module import TaskModule
from captra.common.cli.predictions import PredictionWriter
from captra.common.report import command as report_command
from captra.common.serve import command as serve_command
from captra.common.task import InferenceCommand, tasks, unavailable_tasks
from captra.common.text.files import DataError
from captra.common.training.selection import AUTO, Selection, SelectionError, metric_mode, selection_for
from captra.common.training.throughput import ThroughputLogger

TRAINER_COMMANDS = {
    "fit": "train a model from a config (-c base.yaml -c overlay.yaml); resume with --ckpt_path last",
    "validate": "score a checkpoint (--ckpt_path) on the configured validation split",
    "test": "score a checkpoint (--ckpt_path) on the configured test split",
    "predict": "decode the configured test split with a checkpoint (--ckpt_path) into the run folder's predictions.tsv",
}
PREPARE_HELP = ("prepare a config's corpus ahead of training (-c base.yaml -c overlay.yaml): tokenize it once into "
                "the cache folder, and print its statistics")
REPORT = InferenceCommand("report", report_command.HELP, report_command.add_arguments, report_command.run)
AVERAGE = InferenceCommand("average", average_command.HELP, average_command.add_arguments, average_command.run)
SERVE = InferenceCommand("serve", serve_command.HELP, serve_command.add_arguments, serve_command.run)


def inference_commands() -> dict[str, InferenceCommand]:
    """Every registered task's command (translate, caption, ...), serve, report and average."""
    commands = {task.command.name: task.command for task in tasks().values() if task.command is not None}
    return {**dict(sorted(commands.items())), SERVE.name: SERVE, REPORT.name: REPORT, AVERAGE.name: AVERAGE}


def top_level_help(commands: dict[str, InferenceCommand]) -> str:
    lines = ["usage: captra COMMAND [ARGS ...]      (captra COMMAND --help for a command's arguments)", "",
             "Recurrent sequence models (attention encoder-decoders, language models): train, serve and evaluate "
             "them.", "",
             "training and scoring (LightningCLI, configs with -c):"]
    lines += [f"  {name:<10} {text}" for name, text in TRAINER_COMMANDS.items()]
    lines += [f"  {'prepare':<10} {PREPARE_HELP}"]
    lines += ["", "inference, evaluation and checkpoints:"]
    lines += [f"  {name:<10} {command.help}" for name, command in commands.items()]
    lines += ["", f"captra {captra.__version__}; tasks: {', '.join(sorted(tasks()))}"]
    lines += [f"unusable here: {name}: {reason}" for name, reason in sorted(unavailable_tasks().items())]
    return "\n".join(lines)


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
    """LightningCLI with checkpointing / early stopping by the task's selection metric and TensorBoard + CSV logs.

    The best checkpoint, early stopping and the plateau schedule follow `model.monitor` or, by default, the
    task's main metric, in its direction (common/training/selection.py); `checkpoint.monitor` /
    `early_stopping.monitor` (and `.mode`) still override one of them alone.

    `captra fit ... --ckpt_path last` resumes the newest run under `trainer.default_root_dir` from its
    last.ckpt (model, optimizer, scheduler, callbacks, loop position) and keeps logging into that run's folder.
    """

    resume_version: int | None = None
    resume_step: int | None = None
    automatic_selection: list[tuple[str, str]] = []  # what _resolve_selection filled in

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.text", "model.init_args.text", apply_on="instantiate")
        # The data modules split batches across DDP ranks themselves (see common/data/batching.py).
        parser.set_defaults({"trainer.use_distributed_sampler": False})
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": AUTO,  # auto: the module's selection (model.monitor, else the task's main metric)
            "checkpoint.mode": AUTO,  # auto: the direction of the monitored metric
            "checkpoint.save_top_k": 1,
            "checkpoint.save_last": True,
            "checkpoint.filename": AUTO,  # auto: best-epoch{epoch:02d}-step{step}-NAME{val/NAME:.2f}
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
            "early_stopping.monitor": AUTO,
            "early_stopping.mode": AUTO,
            "early_stopping.patience": 5,
            # Checked after each validation only: a run stopped before its first validation (max_steps, max_time)
            # would otherwise fail at the epoch's end on the missing metric before last.ckpt is written.
            "early_stopping.check_on_train_epoch_end": False,
        })

        parser.add_argument("--ensemble", type=list[str], default=[],
                            help="validate / test / predict: checkpoints of the same task and vocabularies to decode "
                                 "with, as one ensemble with --ckpt_path (mean log-probabilities per step), e.g. "
                                 "--ensemble '[b.ckpt, c.ckpt]' or --ensemble+ b.ckpt --ensemble+ c.ckpt")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        self.command_line = list(sys.argv[1:] if args is None else args) if not isinstance(args, dict) else []
        super().parse_arguments(parser, args)

    # LightningCLI rebuilds the model from a `--ckpt_path` checkpoint's hyper-parameters in its private
    # `_parse_ckpt_path`, right after parsing, and no public hook runs in between. It imports the class path the
    # checkpoint stored, which for checkpoints written before captra had one namespace is `translation.model...`;
    # and it would overwrite decoding settings given on the command line. So captra replaces that step.
    def _parse_ckpt_path(self) -> None:
        """With `--ckpt_path`, the model is rebuilt from the checkpoint's task and hyper-parameters (its weights
        need that architecture), but decoding settings given on the command line (`--model.search.*`) still apply."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not Path(ckpt_path).is_file():  # "last" is resolved in before_instantiate_classes
            return
        checkpoint = read_checkpoint(ckpt_path)
        module_class = checkpoint_task(ckpt_path, checkpoint).module_class
        hparams = module_hparams(checkpoint)
        model = {"class_path": f"{module_class.__module__}.{module_class.__qualname__}", "init_args": hparams}
        before = self.config.clone()
        self.config = self.parser.parse_object({subcommand: {"model": model}}, self.config)
        pattern = re.compile(r"^--model\.(?:init_args\.)?search\.(\w+)")
        for word in self.command_line:
            if match := pattern.match(word):
                key = f"{subcommand}.model.init_args.search.{match.group(1)}"
                self.config[key] = before[key]

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if config.get("ensemble") and self.subcommand == "fit":
            raise CheckpointError("--ensemble: fit trains one model; ensembles are for validate, test and predict")
        if config.get("ensemble") and not config.get("ckpt_path"):
            raise CheckpointError("--ensemble: needs --ckpt_path, the ensemble's first member")
        self.automatic_selection = self._resolve_selection(config)
        if self.subcommand == "fit" and not validates(config["trainer"]):
            print("captra: validation is off (trainer.limit_val_batches 0): no checkpoint selection, early stopping or "
                  "learning-rate plateau schedule; the latest weights are saved as last.ckpt after every epoch",
                  file=sys.stderr)
            config["checkpoint"]["monitor"] = None  # keep the latest checkpoint instead of the best
            config["checkpoint"]["filename"] = "epoch{epoch:02d}-step{step}"
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            self._resolve_last_checkpoint(config)

    @staticmethod
    def _resolve_selection(config: Any) -> list[tuple[str, str]]:
        """The callbacks' `auto` monitor, mode and file name from the module's selection metric; returns the
        (section, key) pairs that were `auto`."""
        module_path, _, class_name = config["model"]["class_path"].rpartition(".")
        module_class = getattr(importlib.import_module(module_path), class_name)
        task = module_class.task
        chosen = selection_for(task, (config["model"].get("init_args") or {}).get("monitor"))
        automatic = [(name, key) for name in ("checkpoint", "early_stopping") for key in ("monitor", "mode", "filename")
                     if config[name].get(key) == AUTO]
        for name in ("checkpoint", "early_stopping"):
            callback = config[name]
            if callback["monitor"] == AUTO:
                callback["monitor"] = chosen.metric
            if callback["mode"] == AUTO:
                callback["mode"] = metric_mode(task, callback["monitor"]) if callback["monitor"] else "min"
        if config["checkpoint"]["filename"] == AUTO:
            monitored = config["checkpoint"]["monitor"]
            config["checkpoint"]["filename"] = (Selection(monitored, config["checkpoint"]["mode"]).checkpoint_filename
                                                if monitored else None)
        return automatic

    def instantiate_classes(self) -> None:
        """The classes of the config; with `--ensemble`, the model evaluates as the ensemble of its checkpoint
        (`--ckpt_path`) and those."""
        super().instantiate_classes()
        config = self.config[self.subcommand] if self.subcommand else self.config
        for name, key in self.automatic_selection:  # the saved config.yaml says `auto`: a rerun with another
            config[name][key] = AUTO                 # model.monitor moves every one of them again
        paths = config.get("ensemble") or []
        if paths:
            members = [load_module(path) for path in paths]
            self.model.ensemble_with(members, [str(config["ckpt_path"]), *paths])
            print(f"captra: {self.subcommand} with the ensemble of {', '.join([str(config['ckpt_path']), *paths])}",
                  file=sys.stderr)

    def _resolve_last_checkpoint(self, config: Any) -> None:
        """`--ckpt_path last`: the newest run's last.ckpt under `default_root_dir`, or a new run if none."""
        root = Path(config["trainer"].get("default_root_dir") or "runs")
        found = newest_last_checkpoint(root)
        if found is None:
            print(f"captra: no {root}/version_*/checkpoints/last.ckpt to resume from: starting a new run", file=sys.stderr)
            config["ckpt_path"] = None
            return
        path, self.resume_version = found
        self.resume_step = int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["global_step"])
        print(f"captra: resuming from {path} (step {self.resume_step})", file=sys.stderr)
        config["ckpt_path"] = str(path)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """Unless the config names loggers, log to TensorBoard and CSV in `default_root_dir/version_N`; unless it
        names plugins, save checkpoints atomically; without validation, no early stopping; `predict` writes its
        outputs to predictions.tsv in the run folder."""
        config = self.config_init[self.subcommand]["trainer"] if self.subcommand else self.config_init["trainer"]
        if config.get("logger") in (None, True):
            root = Path(config.get("default_root_dir") or "runs")
            version = next_version(root) if self.resume_version is None else self.resume_version
            kwargs["logger"] = [  # CSV first: it creates the shared folder, TensorBoard then adds to it
                ContinuingCSVLogger(root, name="", version=version, resume_step=self.resume_step),
                TensorBoardLogger(root, name="", version=version),
            ]
        if config.get("plugins") is None:
            kwargs["plugins"] = [AtomicCheckpointIO()]  # a failed save never damages the previous checkpoint
        trainer = super().instantiate_trainer(**kwargs)
        if not validates(config):
            trainer.callbacks = [c for c in trainer.callbacks if not isinstance(c, EarlyStopping)]
        if self.subcommand == "predict":
            trainer.callbacks.append(PredictionWriter())
        return trainer


class PrepareCLI(CaptraCLI):
    """`captra prepare -c CONFIG`: the config's data module (and model, whose settings some data depends on, such
    as a captioner's image encoder for its feature caches) without a trainer; prepares and describes the corpus."""

    def before_instantiate_classes(self) -> None:
        self._resolve_selection(self.config)

    def instantiate_classes(self) -> None:
        self.config_init = self.parser.instantiate_classes(self.config)
        self.datamodule, self.model = self.config_init["data"], self.config_init["model"]


def run_prepare(argv: list[str]) -> None:
    with warnings.catch_warnings():  # the arguments after "prepare" are given, sys.argv holds the word as well
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        cli = PrepareCLI(model_class=TaskModule, subclass_mode_model=True, datamodule_class=None, subclass_mode_data=True,
                         parser_kwargs={"prog": "captra prepare", "description": PREPARE_HELP}, args=argv, run=False,
                         auto_configure_optimizers=False)
    print(cli.datamodule.describe(cli.model))


def validates(trainer_config: Any) -> bool:
    """Whether a trainer configuration runs validation (`limit_val_batches: 0` turns it off)."""
    return trainer_config.get("limit_val_batches") not in (0, 0.0)


def run_lightning(argv: list[str] | None) -> CaptraCLI:
    """LightningCLI on `argv` (None: the command line)."""
    return CaptraCLI(
        model_class=TaskModule,
        subclass_mode_model=True,
        datamodule_class=None,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "captra"},
        args=argv,
        auto_configure_optimizers=False,
    )


def run_inference(command: InferenceCommand, argv: list[str]) -> int:
    """`captra NAME ARGS` for an inference command; bad input gets a one-line error and exit status 2."""
    parser = argparse.ArgumentParser(prog=f"captra {command.name}", description=command.help)
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return command.run(args)
    except (CheckpointError, DataError, ValueError) as error:
        print(f"captra {command.name}: error: {error}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> None:
    words = sys.argv[1:] if argv is None else argv
    commands = inference_commands()
    if not words or words[0] in ("-h", "--help"):
        print(top_level_help(commands))
        sys.exit(0 if words else 2)
    if words[0] == "--version":
        print(f"captra {captra.__version__}")
        sys.exit(0)
    if words[0] in commands:
        sys.exit(run_inference(commands[words[0]], words[1:]))
    unusable = unavailable_tasks()
    if words[0] not in [*TRAINER_COMMANDS, "prepare"] and not words[0].startswith("-") and unusable:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in sorted(unusable.items()))
        print(f"captra: unknown command {words[0]!r}; installed tasks that cannot be imported here (their commands "
              f"are missing): {reasons}", file=sys.stderr)
        sys.exit(2)
    if (overlay := overlay_alone(words[0], words[1:])) is not None:
        print(f"captra: error: {overlay}", file=sys.stderr)
        sys.exit(2)
    try:
        if words[0] == "prepare":
            run_prepare(words[1:])
        else:
            run_lightning(argv)
    except (CheckpointError, DataError, SelectionError) as error:
        print(f"captra: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
