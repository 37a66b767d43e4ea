"""The COCO caption evaluation (pycocoevalcap, the reference code): PTB tokenizer, BLEU-1..4, METEOR 1.5,
ROUGE-L, CIDEr-D, and SPICE where its Stanford CoreNLP 3.6.0 jars are present (pycocoevalcap would download
them; captra never does); every score on the 0-100 scale.

The PTB tokenizer and METEOR run Java, started once per evaluation. Java missing, or a Java process that fails
or outlives its time limit, never stops an evaluation: what could not be computed is named with the reason in
`notes`, and the rest is computed (without Java, on captra's normalised words: lowercase, no punctuation,
which the signature then says instead of `tok:ptb`).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.spice import spice as spice_module
from pycocoevalcap.spice.spice import Spice
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

log = logging.getLogger(__name__)

JAVA_TIMEOUT_S = 600.0  # METEOR on 5,000 captions takes well under a minute; a hung JVM is given up after this
T = TypeVar("T")

Captions = dict[int, list[str]]


@dataclass
class CocoScores:
    """Corpus scores by name (0-100), per-image CIDEr-D, and what was not computed and why."""

    scores: dict[str, float]
    cider_per_image: list[float]
    signature: str
    notes: list[str] = field(default_factory=list)


def spice_unavailable_reason() -> str | None:
    """Why SPICE cannot run here, or None when its Stanford CoreNLP 3.6.0 jars are present."""
    lib = Path(spice_module.__file__).resolve().parent / "lib"
    jars = [lib / "stanford-corenlp-3.6.0.jar", lib / "stanford-corenlp-3.6.0-models.jar"]
    if all(jar.is_file() for jar in jars) and shutil.which("java"):
        return None
    # the folder is named relative to the package: this note goes into reports, which carry no path of the machine
    return ("spice: not computed (it needs the Stanford CoreNLP 3.6.0 jars in pycocoevalcap's spice/lib folder, which "
            "pycocoevalcap downloads on first use; nothing is downloaded here)")


def _bounded(function: Callable[[], T], seconds: float, what: str, on_timeout: Callable[[], None] = lambda: None) -> T:
    """`function()` in a worker thread, given up (TimeoutError naming `what`) after `seconds`."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(function).result(timeout=seconds)
    except TimeoutError as error:
        on_timeout()
        raise TimeoutError(f"{what} did not answer within {seconds:.0f} s") from error
    finally:
        pool.shutdown(wait=False)


def _tokenize(captions: Captions, timeout: float) -> Captions:
    """PTB tokenization (lowercased, punctuation removed), as the COCO evaluation does."""
    as_records = {key: [{"caption": text} for text in texts] for key, texts in captions.items()}
    return _bounded(lambda: PTBTokenizer().tokenize(as_records), timeout, "the PTB tokenizer (Java)")


def _meteor(references: Captions, hypotheses: Captions, timeout: float) -> float:
    meteor = Meteor()  # one JVM for the whole evaluation

    def stop() -> None:
        meteor.meteor_p.kill()

    try:
        return float(_bounded(lambda: meteor.compute_score(references, hypotheses)[0], timeout, "METEOR (Java)", stop))
    finally:
        meteor.meteor_p.kill()
        meteor.meteor_p.wait()
        meteor.lock = threading.Lock()  # a failed compute_score never releases its lock; Meteor.__del__ takes it


def coco_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], meteor: bool = True,
                timeout: float = JAVA_TIMEOUT_S) -> CocoScores:
    """The COCO caption metrics of one output per image against all of its references."""
    problems: list[str] = []  # what failed: warned about, and recorded in `notes`
    hyps: Captions = {i: [h] for i, h in enumerate(hypotheses)}
    refs: Captions = {i: list(r) for i, r in enumerate(references)}
    tokenizer = "ptb"
    java = shutil.which("java") is not None
    if not java:
        problems.append("ptb tokenizer: not run (java not found on PATH); scores use captra's normalised words")
        tokenizer = "captra-normalised"
    else:
        try:
            tokenized_hyps, tokenized_refs = _tokenize(hyps, timeout), _tokenize(refs, timeout)
            # an empty caption at the very end can lose its (empty) output line
            hyps = {key: tokenized_hyps.get(key, [""])[:1] for key in hyps}
            refs = {key: tokenized_refs.get(key, [""] * len(texts)) for key, texts in refs.items()}
        except (OSError, TimeoutError, ValueError) as error:
            problems.append(f"ptb tokenizer: failed ({error}); scores use captra's normalised words")
            tokenizer = "captra-normalised"
    scores: dict[str, float] = {}
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    scores.update({f"bleu{n}_coco": 100.0 * value for n, value in enumerate(bleu, start=1)})
    scores["rouge_l"] = 100.0 * float(Rouge().compute_score(refs, hyps)[0])
    cider, per_image = Cider().compute_score(refs, hyps)
    scores["cider"] = 100.0 * float(cider)
    expected: list[str] = []  # left out by setting or by the machine: recorded in `notes`, not warned about
    if not meteor:
        expected.append("meteor: not computed (turned off)")
    elif not java:
        problems.append("meteor: not computed (java not found on PATH; METEOR 1.5 runs on Java)")
    else:
        try:
            scores["meteor"] = 100.0 * _meteor(refs, hyps, timeout)
        except (OSError, TimeoutError, ValueError) as error:
            problems.append(f"meteor: not computed ({error})")
    spice_missing = spice_unavailable_reason()
    if spice_missing is None:
        try:  # Spice() would download the CoreNLP jars if they were missing: only called when they are present
            scores["spice"] = 100.0 * float(_bounded(lambda: Spice().compute_score(refs, hyps)[0], timeout, "SPICE (Java)"))
        except (OSError, TimeoutError, ValueError, subprocess.CalledProcessError) as error:
            problems.append(f"spice: not computed ({error})")
    else:
        expected.append(spice_missing)
    for problem in problems:
        log.warning("COCO caption evaluation: %s", problem)
    notes = problems + expected
    counts = sorted({len(r) for r in references}) or [0]
    refs_text = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    signature = f"pycocoevalcap-{version('pycocoevalcap')}|tok:{tokenizer}|refs:{refs_text}|cider-d:sigma6"
    return CocoScores(scores, [100.0 * float(s) for s in per_image], signature, notes)
