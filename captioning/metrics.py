"""Caption scores: the COCO caption evaluation (pycocoevalcap; what captioning papers since 2015 report) and
nltk corpus BLEU-1..4 (the protocol of the SAT-era Flickr8k numbers); 0-100 scale."""

from __future__ import annotations

from typing import Any, Sequence

import nltk
from nltk.translate.bleu_score import corpus_bleu

from captra.captioning.bad_endings import bad_ending_rate
from captra.captioning.coco_metrics import coco_scores
from captra.common.report.analysis import bootstrap_p_value

PROTOCOL = (
    "COCO caption evaluation (pycocoevalcap, the reference code): captions and all references of each image "
    "PTB-tokenized, then BLEU-1..4 (bleu*_coco), METEOR 1.5, ROUGE-L and CIDEr-D (cider; selects checkpoints); "
    "SPICE only where its Stanford CoreNLP jars are present. Beside them, for the SAT-era Flickr8k tables, nltk "
    "corpus_bleu (bleu1..bleu4: uniform n-gram weights, no smoothing) of lowercased, punctuation-free word tokens "
    "against all reference captions of each image. bad_endings: % of captions whose last word is a function word "
    "(a, the, of, in, ...; self-critical.pytorch's list), a known failure of CIDEr-optimised captioners."
)


def nltk_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, float | str]:
    """BLEU-1..4 (0-100) with nltk's corpus_bleu over whitespace tokens; "bleu" is BLEU-4."""
    hyps = [h.split() for h in hypotheses]
    refs = [[r.split() for r in refs] for refs in references]
    weights = [(1.0,), (1 / 2,) * 2, (1 / 3,) * 3, (1 / 4,) * 4]
    scores = corpus_bleu(refs, hyps, weights=weights)
    result: dict[str, float | str] = {f"bleu{n}": 100.0 * score for n, score in enumerate(scores, start=1)}
    result["bleu"] = result["bleu4"]
    result["signature"] = f"nltk-{nltk.__version__}|corpus_bleu|refs:{max(map(len, refs), default=0)}|lowercase|no-punct"
    return result


def captioning_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                      meteor: bool = True) -> dict[str, float | str]:
    """nltk BLEU-1..4, the COCO caption metrics and the share of bad endings, with both signatures and notes on
    what was not computed."""
    coco = coco_scores(hypotheses, references, meteor=meteor)
    result = {**nltk_bleu(hypotheses, references), **coco.scores, "bad_endings": bad_ending_rate(hypotheses),
              "signature_coco": coco.signature}
    if coco.notes:
        result["notes"] = "; ".join(coco.notes)
    return result


def corpus_cider(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """CIDEr-D of the corpus alone (no METEOR JVM): the main metric per report bucket."""
    return coco_scores(hypotheses, references, meteor=False).scores["cider"]


def sentence_cider(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """CIDEr-D of each caption (scaled by 100 like the corpus score, their mean), document frequencies of the split."""
    return coco_scores(hypotheses, references, meteor=False).cider_per_image


def paired_bootstrap_cider(baseline: Sequence[str], other: Sequence[str], references: Sequence[Sequence[str]],
                           samples: int, seed: int = 12345) -> dict[str, Any]:
    """Is `other` better than `baseline` on CIDEr-D? Paired bootstrap resampling (Koehn 2004) of the images, on
    their per-image CIDEr-D (document frequencies of the whole split, as the corpus score uses): p is the share
    of resampled test sets on which `other` is not better."""
    first, second = sentence_cider(baseline, references), sentence_cider(other, references)

    def gain(sample: list[int]) -> float:
        return sum(second[i] for i in sample) - sum(first[i] for i in sample)

    return {"p_value": bootstrap_p_value(gain, len(first), samples, seed),
            "method": f"paired bootstrap on per-image CIDEr-D, {samples} samples, seed {seed}"}
