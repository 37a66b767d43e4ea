"""Translation scores: tok-lc BLEU as the published Multi30k tables computed it, TER beside chrF, and the target
language recorded in checkpoints for it."""

import pytest
from sacrebleu.metrics import BLEU, TER
from sacremoses import MosesTokenizer

from captra.translation.data import TranslationDataModule
from captra.translation.metrics import translation_scores
from tests.helpers import write_reverse_corpus

HYPOTHESES = ["ein mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee!", "Eine Frau, die liest."]
REFERENCES = [["Ein Mann fährt ein Fahrrad."], ["Zwei Hunde spielen im Schnee."], ["Eine Frau liest ein Buch."]]


def test_tok_lc_bleu_is_sacrebleu_on_moses_tokenized_lowercased_text():
    moses = MosesTokenizer(lang="de")

    def prepare(text):
        return moses.tokenize(text, escape=False, return_str=True).lower()

    expected = BLEU(tokenize="none").corpus_score([prepare(h) for h in HYPOTHESES],
                                                  [[prepare(refs[0]) for refs in REFERENCES]]).score
    scores = translation_scores(HYPOTHESES, REFERENCES, language="de")
    assert scores["bleu_tok_lc"] == pytest.approx(expected, abs=1e-9)
    assert scores["bleu_tok_lc"] > scores["bleu"] + 5  # case does not count in tok-lc
    assert "pretok:sacremoses-de|lc" in scores["signature_tok_lc"] and "tok:none" in scores["signature_tok_lc"]
    assert scores["ter"] == pytest.approx(TER().corpus_score(HYPOTHESES, [[r[0] for r in REFERENCES]]).score)
    assert scores["signature_ter"].startswith("nrefs:1|case:lc|tok:tercom")


def test_without_a_recorded_language_tok_lc_is_named_as_not_computed():
    scores = translation_scores(HYPOTHESES, REFERENCES)
    assert "bleu_tok_lc" not in scores and "target language" in scores["notes"]


def test_the_vocabularies_record_their_language(tmp_path):
    write_reverse_corpus(tmp_path, {"train": 20, "val": 4, "test": 4})
    data = TranslationDataModule(data_dir=str(tmp_path), src_lang="src", tgt_lang="tgt", tokenizer="word")
    assert data.text["src"]["language"] == "src" and data.text["tgt"]["language"] == "tgt"
