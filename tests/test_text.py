import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captra.common.text.pipeline import TextPipeline
from captra.common.text.tokenizers import JOINER, WordTokenizer
from captra.common.text.vocab import EOS_ID, SPECIALS, UNK_ID, Vocabulary

CORPUS = ["A man, eating an apple.", "Two dogs play in the snow!", "A woman's bike is red."] * 20


def test_vocabulary_orders_by_frequency_and_respects_limits():
    vocab = Vocabulary.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.itos == [*SPECIALS, "b", "a"]
    assert Vocabulary.build([["b", "a", "b"], ["c"]], max_size=5).itos == [*SPECIALS, "b"]
    assert vocab.encode(["a", "zzz"]) == [5, UNK_ID]
    assert vocab.decode([4, 5, EOS_ID, 4]) == ["b", "a"]
    assert Vocabulary.from_state(vocab.to_state()) == vocab


def test_vocabulary_refuses_a_list_without_specials():
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["a", "b"])


def test_word_tokenizer_marks_glued_tokens_and_round_trips():
    tokenizer = WordTokenizer()
    assert tokenizer.tokenize("A man, eating.") == ["A", "man", JOINER + ",", "eating", JOINER + "."]
    assert tokenizer.detokenize(tokenizer.tokenize("Hello (big) world's end!")) == "Hello (big) world's end!"
    assert WordTokenizer(lowercase=True).tokenize("Big Dog") == ["big", "dog"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters=JOINER, blacklist_categories=("Cs",)), max_size=60))
def test_word_tokenizer_round_trips_any_text_up_to_whitespace(text):
    tokenizer = WordTokenizer()
    assert tokenizer.detokenize(tokenizer.tokenize(text)) == " ".join(text.split())


@pytest.mark.parametrize("kind", ["word", "sentencepiece"])
def test_pipeline_round_trips_through_its_state(kind):
    pipeline = TextPipeline.build(CORPUS, kind=kind, vocab_size=60)
    restored = TextPipeline.from_state(pipeline.to_state())
    for sentence in CORPUS[:3]:
        ids = pipeline.encode(sentence)
        assert UNK_ID not in ids
        assert restored.encode(sentence) == ids
        assert restored.decode(ids) == sentence


def test_sentencepiece_training_is_deterministic_and_maps_unseen_characters_to_unk():
    first = TextPipeline.build(CORPUS, kind="sentencepiece", vocab_size=60)
    second = TextPipeline.build(CORPUS, kind="sentencepiece", vocab_size=60)
    assert first.vocab == second.vocab
    assert first.tokenizer.to_state() == second.tokenizer.to_state()
    assert UNK_ID in first.encode("Ωμέγα 漢字")


def test_a_lowercasing_sentencepiece_pipeline_lowercases_what_it_encodes_and_says_so_in_its_state():
    pipeline = TextPipeline.build(CORPUS, kind="sentencepiece", vocab_size=60, lowercase=True)
    assert UNK_ID not in pipeline.encode("A MAN, EATING AN APPLE.")  # capitals were <unk> when only training lowercased
    assert pipeline.encode("A MAN, EATING") == pipeline.encode("a man, eating")
    assert TextPipeline.from_state(pipeline.to_state()).encode("TWO DOGS") == pipeline.encode("two dogs")
    cased = TextPipeline.build(CORPUS, kind="sentencepiece", vocab_size=60)
    assert "lowercase" not in cased.to_state()["tokenizer"]  # states of cased models stay as checkpoints store them


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=8))
def test_encoding_a_batch_equals_encoding_each_text(texts):
    for pipeline in (SENTENCEPIECE, WORDS):
        assert pipeline.encode_batch(texts) == [pipeline.encode(text) for text in texts]


SENTENCEPIECE = TextPipeline.build(CORPUS, kind="sentencepiece", vocab_size=60)
WORDS = TextPipeline.build(CORPUS, kind="word")


def test_a_text_file_is_open_only_while_it_is_read(tmp_path):
    import os

    from captra.common.text.files import LineReader

    path = tmp_path / "a.txt"
    path.write_text("one\ntwo\r\nthree\n")
    open_files = lambda: len(os.listdir("/proc/self/fd"))  # noqa: E731
    before = open_files()
    reader = LineReader(path)
    assert open_files() == before and reader.position == 0
    assert list(reader) == ["one", "two", "three"] and reader.position == path.stat().st_size
    assert open_files() == before


def test_a_corrupt_gzip_file_is_named_with_the_line_reached(tmp_path):
    import gzip

    from captra.common.text.files import DataError, read_lines

    path = tmp_path / "train.en.gz"
    import random

    rng = random.Random(0)
    text = "".join(" ".join(f"w{rng.randrange(10**6)}" for _ in range(8)) + "\n" for _ in range(5000))
    compressed = gzip.compress(text.encode())
    middle = len(compressed) // 2
    path.write_bytes(compressed[:middle] + bytes(b ^ 0x55 for b in compressed[middle:middle + 200]) + compressed[middle + 200:])
    with pytest.raises(DataError, match=rf"{path}: cannot be read after line \d+ \("):
        read_lines(path)


def test_an_unreadable_line_while_sentencepiece_trains_is_named_not_taken_for_a_bad_setting(tmp_path):
    from captra.common.text.files import DataError, LineReader

    path = tmp_path / "train.en"
    path.write_bytes(("a small sentence\n" * 50).encode() + b"caf\xe9\n")
    with pytest.raises(DataError, match=rf"{path}:51: not UTF-8 text"):
        TextPipeline.build(LineReader(path), kind="sentencepiece", vocab_size=30)


def test_a_character_pipeline_keeps_every_character_and_travels_as_plain_data():
    text = "ROMEO:\nBut soft, what light?\n"
    pipeline = TextPipeline.build([text], kind="char")
    assert pipeline.vocab.itos[4:7] == ["t", " ", "\n"]  # most frequent first, after the specials
    ids = pipeline.encode(text)
    assert len(ids) == len(text) and pipeline.decode(ids) == text
    again = TextPipeline.from_state(pipeline.to_state())
    assert pipeline.to_state()["tokenizer"] == {"kind": "char", "lowercase": False} and again.encode(text) == ids
    lowercased = TextPipeline.build(["Ab"], kind="char", lowercase=True)
    assert lowercased.decode(lowercased.encode("AB")) == "ab"
