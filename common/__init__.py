"""captra's core, shared by every task and naming none.

Subpackages, in the order data flows through them:

    text/         text <-> ids: vocabularies, tokenizers, one language's pipeline, reading text files
    data/         splits prepared once on disk (ragged id arrays), length-bucketed batches, the split data module
    nn/           layers: the encoder's Memory, attention, embeddings, the attention decoder
    decoding/     search settings, greedy / sampling / beam search, ensembles, int8 inference
    training/     the LightningModule tasks subclass, self-critical training, DDP helpers, logs
    checkpoints/  reading checkpoint files safely, loading modules and ensembles, atomic writes, averaging
    report/       `captra report`: a split decoded, scored, analysed and rendered
    cli/          the `captra` command and what the inference commands share
    task.py       the task record and its registry: what a task declares, and how the core finds it

A task author needs the names imported below (`from captra.common import Seq2SeqModule, Task, ...`): a task that
generates sequences subclasses Seq2SeqModule, any other (a classifier) TaskModule, the base both share.

The batch a task's data module yields is a dict; the keys the core reads are:

    "tgt"         (B, T) int64: target token ids, each row <s> ... </s> then PAD_ID (teacher forcing reads
                  tgt[:, :-1], the loss tgt[:, 1:])
    "ids"         (B,) int64: each example's index in its split (exact evaluation across DDP ranks orders
                  outputs by it; `captra predict` writes them in that order)
    "references"  list of B lists of str: each example's reference texts (validation, test and
                  self-critical training score against them)

Everything else in a batch (source ids, image features, lengths) is read only by the task's own `encode`.
"""

from captra.common.data.batching import (BucketBatchSampler, already_collated, bucketed_train_loader, pad,
                                         resumable_train_loader)
from captra.common.data.datamodule import SplitDataModule
from captra.common.decoding.settings import Hypothesis, SearchConfig
from captra.common.nn.decoder import AttentionDecoder, DecoderConfig
from captra.common.nn.memory import Memory, padding_mask
from captra.common.report.split import ReportHooks, SplitData
from captra.common.task import InferenceCommand, Task, register
from captra.common.text.files import DataError, read_lines
from captra.common.text.pipeline import TextPipeline
from captra.common.text.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, Vocabulary
from captra.common.training.module import OptimizerConfig, TaskModule
from captra.common.training.seq2seq import Seq2SeqModule

__all__ = [
    "AttentionDecoder", "BOS_ID", "BucketBatchSampler", "DataError", "DecoderConfig", "EOS_ID", "Hypothesis",
    "InferenceCommand", "Memory", "OptimizerConfig", "PAD_ID", "ReportHooks", "SearchConfig", "Seq2SeqModule",
    "SplitData", "SplitDataModule", "Task", "TaskModule", "TextPipeline", "UNK_ID", "Vocabulary", "already_collated", "bucketed_train_loader", "pad",
    "resumable_train_loader",
    "padding_mask", "read_lines", "register",
]
