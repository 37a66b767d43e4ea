"""The COCO caption evaluation: captra's numbers are pycocoevalcap's, and Java trouble never stops an evaluation."""

import time

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

import captra.captioning.coco_metrics as coco_metrics
from captra.captioning.coco_metrics import coco_scores
from captra.captioning.metrics import captioning_scores, paired_bootstrap_cider

REFERENCES = [
    ["A dog runs across the grass.", "A brown dog is running on a lawn", "the dog runs outside"],
    ["Two men are playing soccer.", "men play football in a field", "two players kick a ball"],
    ["A child in a red shirt climbs a wall", "a kid climbing", "A young boy climbs a rock wall."],
    ["People sit outside a café.", "a group of people at a café in Paris", "diners at tables on a street"],
    ["A surfer rides a wave", "a man surfing a big wave", "someone on a surfboard in the ocean"],
    ["A woman is riding a bicycle.", "a lady rides her bike down the street", "a cyclist on a road"],
    ["Two dogs play in the snow", "dogs running through snow", "two white dogs in the snow"],
    ["A man is cooking in a kitchen.", "a chef prepares food", "someone cooking at a stove"],
    ["Children swim in a pool.", "kids swimming", "three children in a swimming pool"],
    ["A black cat sleeps on a couch", "a cat sleeping", "a cat lies on the sofa"],
]
HYPOTHESES = ["a dog runs on the grass", "two men play soccer", "a child climbs a wall", "people sit at a café",
              "a man rides a wave", "a woman rides a bike", "two dogs in the snow", "a man cooks food",
              "kids swim in a pool", "a cat sleeps on a couch"]


def by_hand(hypotheses, references) -> dict[str, float]:
    """pycocoevalcap called directly, as its COCOEvalCap does."""
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": r} for r in refs] for i, refs in enumerate(references)})
    res = tokenizer.tokenize({i: [{"caption": h}] for i, h in enumerate(hypotheses)})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    scores = {f"bleu{n}_coco": 100 * b for n, b in enumerate(bleu, start=1)}
    scores["meteor"] = 100 * Meteor().compute_score(gts, res)[0]
    scores["rouge_l"] = 100 * Rouge().compute_score(gts, res)[0]
    scores["cider"] = 100 * Cider().compute_score(gts, res)[0]
    return scores


def test_captras_scores_equal_pycocoevalcap_called_directly():
    ours = coco_scores(HYPOTHESES, REFERENCES)
    expected = by_hand(HYPOTHESES, REFERENCES)
    assert set(ours.scores) == set(expected)
    for name, value in expected.items():
        assert ours.scores[name] == pytest.approx(value, abs=1e-9), name
    assert ours.signature == "pycocoevalcap-1.2|tok:ptb|refs:3|cider-d:sigma6"
    assert sum(ours.cider_per_image) / len(HYPOTHESES) == pytest.approx(ours.scores["cider"], abs=1e-9)
    assert [note.split(":")[0] for note in ours.notes] in ([], ["spice"])  # only SPICE may be missing


def test_a_reference_as_hypothesis_beats_shuffled_hypotheses_on_cider():
    exact = [refs[0] for refs in REFERENCES]
    shuffled = exact[1:] + exact[:1]
    assert coco_scores(exact, REFERENCES, meteor=False).scores["cider"] > 5 * coco_scores(shuffled, REFERENCES, meteor=False).scores["cider"]
    better = paired_bootstrap_cider(shuffled, exact, REFERENCES, samples=200)
    worse = paired_bootstrap_cider(exact, shuffled, REFERENCES, samples=200)
    assert better["p_value"] < 0.05 < worse["p_value"]


def test_empty_and_non_ascii_hypotheses_are_scored_without_error():
    hypotheses = ["", "zwei männer spielen fußball", "", "un café à paris", "", "", "", "", "", ""]
    scores = coco_scores(hypotheses, REFERENCES).scores
    assert set(scores) >= {"cider", "meteor", "rouge_l", "bleu4_coco"}
    assert 0.0 <= scores["cider"] < coco_scores(HYPOTHESES, REFERENCES, meteor=False).scores["cider"]


def test_without_java_the_other_metrics_are_computed_and_the_missing_ones_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    scores = captioning_scores(HYPOTHESES, REFERENCES)
    assert "meteor" not in scores and {"cider", "rouge_l", "bleu4_coco", "bleu4"} <= set(scores)
    assert "meteor: not computed (java not found on PATH" in scores["notes"]
    assert "tok:captra-normalised" in scores["signature_coco"]


def test_a_hung_meteor_is_given_up_within_the_time_limit(monkeypatch):
    monkeypatch.setattr(coco_metrics.Meteor, "compute_score", lambda self, gts, res: time.sleep(60))
    start = time.perf_counter()
    result = coco_scores(HYPOTHESES, REFERENCES, timeout=2.0)
    assert time.perf_counter() - start < 30
    assert "meteor" not in result.scores and "cider" in result.scores
    assert any(note.startswith("meteor: not computed (METEOR (Java) did not answer within 2 s") for note in result.notes)


def test_spice_is_computed_only_where_its_corenlp_jars_are_present(monkeypatch):
    without = coco_scores(HYPOTHESES, REFERENCES, meteor=False)
    assert "spice" not in without.scores
    assert any(note.startswith("spice: not computed (it needs the Stanford CoreNLP 3.6.0 jars") for note in without.notes)
    monkeypatch.setattr(coco_metrics, "spice_unavailable_reason", lambda: None)  # as if the jars were there
    monkeypatch.setattr(coco_metrics.Spice, "__init__", lambda self: None)  # (its constructor downloads missing jars)
    monkeypatch.setattr(coco_metrics.Spice, "compute_score", lambda self, gts, res: (0.25, []))
    assert coco_scores(HYPOTHESES, REFERENCES, meteor=False).scores["spice"] == 25.0
