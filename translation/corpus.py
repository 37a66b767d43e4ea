"""A parallel corpus prepared once, in the cache folder, for every run and every DDP rank that needs it.

    <cache_dir>/corpora/<src>-<tgt>-<tokenizer><vocab_size>-<key>/
        tokenizers/            src.json, tgt.json: the fitted tokenizers and vocabularies (the checkpoint's text)
        <split>-<key>/         per split: src, tgt (token ids) and reference (the raw target lines), each a ragged
                               column (common/data/ragged.py) holding every line of the files; blank-line flags

The folder's key covers the training files (path, size, modification time), the tokenizer options, the
sample size and the sentencepiece version (versions train different models from the same text); a split's
key adds its own files. A changed input gives a new key, so a stale cache is never read. Which training
pairs are dropped (blank, too long) is decided when a run reads the split, from the lengths alone, so
`max_length` does not need a new preparation.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import sentencepiece

from captra.common.data.encoding import Column, encode_columns
from captra.common.data.prepared_folder import Preparation, data_key, fingerprint, prepared
from captra.common.data.ragged import Ragged
from captra.common.text.pipeline import TextPipeline, TokenizerKind
from captra.common.text.files import DataError, LineReader

FORMAT = 1  # of the prepared files; a change of layout bumps it (and so every key)
SIDES = ("src", "tgt")
SAMPLE_SEED = 0  # the tokenizers' training sample does not follow data.seed: every seed of a config shares them


def split_path(data_dir: Path, split: str, lang: str) -> Path:
    """The file of one split and language in a parallel-text folder (`.gz` or plain)."""
    for candidate in (data_dir / f"{split}.{lang}.gz", data_dir / f"{split}.{lang}"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{data_dir / f'{split}.{lang}'}[.gz]: no such file (split {split!r}, language {lang!r})")


@dataclass(frozen=True)
class CorpusSpec:
    """Where a parallel corpus is and how it is tokenized: everything its prepared files depend on."""

    data_dir: Path  # {split}.{language}[.gz] files
    languages: tuple[str, str]
    tokenizer: TokenizerKind
    vocab_size: int
    min_freq: int
    lowercase: bool
    spm_sample: int
    cache_dir: Path
    num_proc: int

    def paths(self, split: str) -> tuple[Path, Path]:
        """The source and target files of a split."""
        return split_path(self.data_dir, split, self.languages[0]), split_path(self.data_dir, split, self.languages[1])


def parallel_lines(src: LineReader, tgt: LineReader) -> Iterator[tuple[str, str]]:
    """(source line, target line) pairs of two files read in step; files of different lengths are refused,
    naming both and their line counts (once both are read to the end)."""
    counts = [0, 0]
    for source, target in itertools.zip_longest(src, tgt):
        counts[0] += source is not None
        counts[1] += target is not None
        if source is not None and target is not None:
            yield source, target
    if counts[0] != counts[1]:
        raise DataError(f"parallel files differ in length: {src.path} has {counts[0]} lines, {tgt.path} has {counts[1]}")


def usable_pairs(pairs: Iterator[tuple[str, str]]) -> np.ndarray:
    """(lines,) bool: the pairs without a blank side (those the tokenizers are fitted on and training uses)."""
    return np.fromiter((bool(source.strip() and target.strip()) for source, target in pairs), dtype=bool)


def sample_mask(usable: np.ndarray, size: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """(lines,) bool: a seeded uniform sample of at most `size` of the usable lines; all of them when they are fewer."""
    candidates = np.flatnonzero(usable)
    if len(candidates) > size:
        candidates = candidates[sorted(random.Random(seed).sample(range(len(candidates)), size))]
    mask = np.zeros(len(usable), dtype=bool)
    mask[candidates] = True
    return mask


def masked_lines(path: Path, mask: np.ndarray) -> Iterator[str]:
    """The lines of a file where `mask` is true, in order, streamed."""
    return (line for line, keep in zip(LineReader(path), mask) if keep)


def _fraction(readers: tuple[LineReader, LineReader]) -> float:
    return sum(reader.position for reader in readers) / max(1, sum(reader.size for reader in readers))


def _state_to_json(state: dict[str, Any]) -> dict[str, Any]:
    tokenizer = dict(state["tokenizer"])
    if isinstance(tokenizer.get("model"), bytes):
        tokenizer["model"] = base64.b64encode(tokenizer["model"]).decode("ascii")
    return {**state, "tokenizer": tokenizer}


def _state_from_json(state: dict[str, Any]) -> dict[str, Any]:
    tokenizer = dict(state["tokenizer"])
    if tokenizer["kind"] == "sentencepiece":
        tokenizer["model"] = base64.b64decode(tokenizer["model"])
    return {**state, "tokenizer": tokenizer}


class PreparedCorpus:
    """The prepared tokenizers and splits of one `CorpusSpec`, each prepared at first need (`prepare_split`)."""

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec = spec
        src_lang, tgt_lang = spec.languages
        key_parts = {
            "format": FORMAT, "train": [fingerprint(path) for path in spec.paths("train")],
            "tokenizer": spec.tokenizer, "vocab_size": spec.vocab_size, "lowercase": spec.lowercase,
            "spm_sample": spec.spm_sample, "sample_seed": SAMPLE_SEED,
            **({"sentencepiece": sentencepiece.__version__} if spec.tokenizer == "sentencepiece" else {"min_freq": spec.min_freq}),
        }
        self.key = data_key(key_parts)
        self.folder = spec.cache_dir / "corpora" / f"{src_lang}-{tgt_lang}-{spec.tokenizer}{spec.vocab_size}-{self.key}"
        self.tokenizer_meta = prepared(self.folder / "tokenizers", self._fit_tokenizers, f"the {src_lang}-{tgt_lang} tokenizers")
        self.pipelines = {side: TextPipeline.from_state(state) for side, state in self.text_states().items()}

    def text_states(self) -> dict[str, dict[str, Any]]:
        """{side: TextPipeline state}, as checkpoints store them."""
        folder = self.folder / "tokenizers"
        return {side: _state_from_json(json.loads((folder / f"{side}.json").read_text())) for side in SIDES}

    def _fit_tokenizers(self, preparation: Preparation) -> dict[str, Any]:
        """Fit each side's tokenizer on the same sample of the training pairs, read from the files as a stream (a
        pass to find the pairs without a blank side, then one per side), so that no list of the corpus is held."""
        spec = self.spec
        paths = spec.paths("train")
        print(f"captra: reading {paths[0]} and {paths[1]} to fit the tokenizers", file=sys.stderr)
        start = time.perf_counter()
        usable = usable_pairs(parallel_lines(LineReader(paths[0]), LineReader(paths[1])))
        mask = sample_mask(usable, spec.spm_sample)
        print(f"captra: fitting the {spec.tokenizer} tokenizers (vocab_size {spec.vocab_size}) on {int(mask.sum()):,} of "
              f"{int(usable.sum()):,} training pairs (data.spm_sample {spec.spm_sample:,})", file=sys.stderr)
        options = dict(kind=spec.tokenizer, vocab_size=spec.vocab_size, min_freq=spec.min_freq, lowercase=spec.lowercase)
        for side, path in zip(SIDES, paths):
            pipeline = TextPipeline.build(masked_lines(path, mask), **options)
            (preparation.folder / f"{side}.json").write_text(json.dumps(_state_to_json(pipeline.to_state())))
        seconds = time.perf_counter() - start
        print(f"captra: tokenizers fitted in {seconds:.1f} s", file=sys.stderr)
        return {"pairs": int(usable.sum()), "sampled": int(mask.sum()), "seconds": round(seconds, 2),
                "train_files": [str(path) for path in paths]}

    def split_folder(self, split: str) -> Path:
        files = [fingerprint(path) for path in self.spec.paths(split)]
        return self.folder / f"{split}-{data_key({'format': FORMAT, 'files': files, 'tokenizers': self.key})}"

    def prepare_split(self, split: str) -> "PreparedSplit":
        """The split's prepared columns, tokenized first (in `num_proc` processes) if they are not in the cache."""
        folder, paths = self.split_folder(split), self.spec.paths(split)

        def build(preparation: Preparation) -> dict[str, Any]:
            readers = LineReader(paths[0]), LineReader(paths[1])
            columns = [Column("src", self.pipelines["src"]), Column("tgt", self.pipelines["tgt"]), Column("reference")]
            rows = ((source, target, target) for source, target in parallel_lines(*readers))
            start = time.perf_counter()
            meta = encode_columns(rows, columns, preparation.folder, self.spec.num_proc, f"{split} of {folder.parent.name}",
                                  progress=lambda: _fraction(readers),
                                  on_progress=lambda fraction: setattr(preparation, "fraction", fraction))
            return {"split": split, "files": [str(path) for path in paths], "columns": meta,
                    "seconds": round(time.perf_counter() - start, 2)}

        return PreparedSplit(folder, prepared(folder, build, f"split {split!r} ({paths[0]}, {paths[1]})"))


class PreparedSplit:
    """One prepared split: ragged columns src / tgt (ids, no <s> </s>) and reference (raw target lines), one row
    per line of the files; `blank(side)`: (N,) bool, the lines that are empty or whitespace only."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder, self.meta = folder, meta
        self.columns = {name: Ragged(folder, column) for name, column in meta["columns"].items()}

    def __len__(self) -> int:
        return len(self.columns["src"])

    def blank(self, side: str) -> np.ndarray:
        return np.load(self.folder / f"{side}.blank.npy", mmap_mode="r")
