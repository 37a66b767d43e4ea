"""Self-critical sequence training: the reward (CIDEr-D with training-split frequencies), the policy-gradient
loss and its baselines, bad endings, and SCST through `captra fit` (logged statistics, resume after a kill)."""

import csv
import math
import re
from pathlib import Path

import pytest
import torch
from pycocoevalcap.cider.cider_scorer import CiderScorer

from captra.captioning.cider import CiderD
from captra.captioning.data import CaptioningDataModule
from captra.common.decoding.settings import SearchConfig, TokenRules, constrain
from captra.common.decoding.search import greedy_search
from captra.common.training.self_critical import (SelfCriticalConfig, leave_one_out_baseline, policy_gradient_loss,
                                         self_critical_step)
from captra.common.text.vocab import EOS_ID
from tests.helpers import random_memory, run_captra, tiny_decoder, write_reverse_corpus
from tests.test_coco_metrics import HYPOTHESES, REFERENCES

SEARCH = SearchConfig(max_len_a=0.0, max_len_b=8, max_length=8)


def words(text: str) -> str:
    return " ".join(text.lower().replace(".", "").split())


def test_cider_d_equals_pycocoevalcap_given_the_same_document_frequencies():
    hypotheses = [words(h) for h in HYPOTHESES]
    references = [[words(r) for r in refs] for refs in REFERENCES]
    scorer = CiderScorer(n=4, sigma=6.0)
    for hypothesis, refs in zip(hypotheses, references):
        scorer += (hypothesis, refs)
    expected_mean, expected = scorer.compute_score()
    ours = CiderD(references).scores(hypotheses, references)  # frequencies of the scored set, as pycocoevalcap
    assert ours == pytest.approx(list(expected), abs=1e-12)
    assert sum(ours) / len(ours) == pytest.approx(expected_mean, abs=1e-12)
    assert min(ours) > 0.1  # a test that could fail: the captions overlap their references


def write_split_captions(folder: Path) -> None:
    """Flickr8k-style files: every test image is about a dog on the grass, one training image in five is."""
    train = {f"train{i}.jpg": ["a man rides a horse", "a person on a horse"] for i in range(4)}
    train["train4.jpg"] = ["a dog runs on the grass", "a brown dog"]
    test = {f"test{i}.jpg": ["a dog runs on the grass", "the brown dog on the grass"] for i in range(3)}
    lines = [f"{name}#{n}\t{caption}" for split in (train, test) for name, caps in split.items() for n, caption in enumerate(caps)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (folder / "Flickr_8k.trainImages.txt").write_text("\n".join(train) + "\n")
    for split in ("dev", "test"):
        (folder / f"Flickr_8k.{split}Images.txt").write_text("\n".join(test) + "\n")


def test_rewards_use_the_training_splits_document_frequencies_not_the_tests(tmp_path):
    from captra.captioning.model import CaptioningModule

    write_split_captions(tmp_path)
    data = CaptioningDataModule(data_dir=str(tmp_path), min_freq=1)
    module = CaptioningModule(encoder={"backbone": "timm:test_efficientnet", "weights": "random"}, text=data.text)
    module.prepare_rewards(data)
    train_refs = [image.captions for image in data.read_split("train")]
    test_refs = [image.captions for image in data.read_split("test")]
    assert module.cider.document_frequency == CiderD(train_refs).document_frequency
    assert module.cider.log_documents == math.log(5)  # five training images, not three test ones
    caption = "a dog runs on the grass"
    ids = data.pipelines["tgt"].encode(caption)
    reward = float(module.rewards([ids], [test_refs[0]])[0])
    assert reward == pytest.approx(100 * CiderD(train_refs).score(caption, test_refs[0]), rel=1e-6)
    # with the test split's own frequencies every n-gram of the caption is in every document and worth nothing
    assert reward > 100.0 and CiderD(test_refs).score(caption, test_refs[0]) == 0.0


def test_the_leave_one_out_baseline_is_the_mean_of_the_other_samples():
    rewards = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    assert leave_one_out_baseline(rewards).tolist() == [[4.0, 3.5, 1.5], [1.5, 1.5, 0.0]]


def test_the_policy_gradient_raises_the_log_probability_of_the_better_sample():
    decoder = tiny_decoder(vocab=12, seed=3)
    memory = random_memory([4], seed=3)
    torch.manual_seed(0)
    config = SelfCriticalConfig(samples=4)
    chosen = {}

    def reward(outputs, references):  # the first sample is the good one
        chosen.setdefault("outputs", [list(o) for o in outputs])
        return torch.tensor([1.0] + [0.0] * (len(outputs) - 1))

    @torch.no_grad()
    def log_probability(tokens):
        inputs = torch.tensor([[2, *tokens]])
        targets = torch.tensor([[*tokens, EOS_ID]])
        logits, _ = decoder(memory, inputs)
        return float(torch.log_softmax(logits, -1).gather(2, targets.unsqueeze(2)).sum())

    step = self_critical_step(decoder, memory, [["ref"]], reward, config, SEARCH)
    samples = chosen["outputs"]
    assert len({tuple(sample) for sample in samples}) == 4
    before = [log_probability(sample) for sample in samples]
    assert step.loss.requires_grad and float(step.baseline[0]) == 0.0 and float(step.baseline[1]) == pytest.approx(1 / 3)
    optimizer = torch.optim.SGD(decoder.parameters(), lr=0.1)
    step.loss.backward()
    optimizer.step()
    gains = [log_probability(sample) - old for sample, old in zip(samples, before)]
    assert gains[0] > 0.0  # the rewarded sample became more likely ...
    assert gains[0] > max(gains[1:])  # ... more so than any unrewarded one ...
    assert sum(gains[1:]) < 0.0  # ... and the unrewarded ones, below their baseline, lost on the whole


def test_policy_gradient_loss_sign_and_normalisation():
    log_probs = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    loss = policy_gradient_loss(log_probs, mask, torch.tensor([2.0, -1.0]))
    assert float(loss.detach()) == pytest.approx(-(2 * -3.0 + -1 * -0.5) / 3)
    loss.backward()
    assert log_probs.grad.flatten().tolist() == pytest.approx([-2 / 3, -2 / 3, 1 / 3, 0.0])  # descent raises A>0 tokens


def test_self_critical_training_raises_the_mean_reward():
    torch.manual_seed(0)
    decoder = tiny_decoder(vocab=12, seed=1).train()
    memory = random_memory([3, 5, 4, 6], seed=1)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.02)

    def reward(outputs, references):  # share of the word 7 in the output, an easy policy to learn
        return torch.tensor([100.0 * sum(t == 7 for t in o) / max(1, len(o)) for o in outputs])

    rewards = []
    for _ in range(40):
        step = self_critical_step(decoder, memory, [[""]] * 4, reward, SelfCriticalConfig(samples=5), SEARCH)
        optimizer.zero_grad()
        step.loss.backward()
        optimizer.step()
        rewards.append(float(step.reward.mean()))
        assert step.statistics()["advantage"] == pytest.approx(0.0, abs=1e-4)  # leave-one-out: zero mean
    assert sum(rewards[-5:]) / 5 > 3 * sum(rewards[:5]) / 5 + 20


def test_the_greedy_baseline_is_the_reward_of_the_greedy_output():
    decoder = tiny_decoder(vocab=12, seed=2)
    memory = random_memory([3, 5], seed=2)

    def reward(outputs, references):
        return torch.tensor([float(len(o)) for o in outputs])

    step = self_critical_step(decoder, memory, [["x"], ["y"]], reward, SelfCriticalConfig(samples=3, baseline="greedy"), SEARCH)
    greedy = greedy_search(decoder, memory, SEARCH)
    assert step.baseline.tolist() == [float(len(greedy[0][0].tokens))] * 3 + [float(len(greedy[1][0].tokens))] * 3


def test_no_end_after_forbids_ending_on_a_bad_word_until_the_length_limit():
    log_probs = torch.zeros(3, 6)
    rules = TokenRules(no_end_after=torch.tensor([5]))
    previous = torch.tensor([5, 4, 5])
    constrained = constrain(log_probs, 2, torch.tensor([0, 0, 0]), torch.tensor([9, 9, 2]), previous, rules)
    assert constrained[:, EOS_ID].tolist() == [float("-inf"), 0.0, 0.0]  # row 3 is at its limit: it must end
    assert constrained[2, 4] == float("-inf")


# --- through `captra fit` ----------------------------------------------------------------------------------
TRANSLATION = [
    "-c", "configs/translation/base.yaml", "--data.src_lang", "src", "--data.tgt_lang", "tgt",
    "--data.test_split", "test", "--data.tokenizer", "word", "--data.batch_size", "32",
    "--model.encoder.embedding_size", "16", "--model.encoder.hidden_size", "16", "--model.decoder.embedding_size", "16",
    "--model.decoder.hidden_size", "16", "--model.decoder.output_size", "16", "--model.decoder.attention_size", "16",
    "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
]


def fit(data: Path, root: Path, *extra: str):
    return run_captra("fit", *TRANSLATION, "--data.data_dir", str(data), "--trainer.default_root_dir", str(root), *extra)


def rows(root: Path) -> list[dict[str, str]]:
    with open(root / "version_0" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cross_entropy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scst")
    write_reverse_corpus(folder / "data", {"train": 320, "val": 20, "test": 20})
    run = fit(folder / "data", folder / "xe", "--trainer.max_epochs", "8", "--model.optimizer.lr", "0.01")
    assert run.returncode == 0, run.stderr[-2000:]
    return folder, folder / "xe" / "version_0" / "checkpoints" / "last.ckpt"


SCST = ["--model.objective", "scst", "--model.self_critical.samples", "3", "--model.optimizer.lr", "0.0005",
        "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1", "--step_checkpoint.every_n_train_steps", "4"]


def test_scst_starts_from_the_cross_entropy_weights_logs_its_statistics_and_resumes_after_a_kill(cross_entropy_run):
    folder, start = cross_entropy_run
    full = fit(folder / "data", folder / "full", *SCST, "--model.init_from", str(start))
    assert full.returncode == 0, full.stderr[-2000:]
    logged = rows(folder / "full")
    for name in ("train/reward", "train/baseline", "train/advantage", "train/entropy", "train/sample_length"):
        values = [float(row[name]) for row in logged if row.get(name)]
        assert len(values) == 20, name  # 10 steps per epoch, logged at every step
    assert all(0.0 <= float(row["train/reward"]) <= 100.0 for row in logged if row.get("train/reward"))
    assert min(float(row["train/entropy"]) for row in logged if row.get("train/entropy")) > 0.0
    start_losses = [float(row["val/loss"]) for row in rows(start.parents[2]) if row.get("val/loss")]
    first_loss = next(float(row["val/loss"]) for row in logged if row.get("val/loss"))
    assert first_loss < start_losses[0] - 0.3  # started from the trained weights, not from scratch
    assert abs(first_loss - start_losses[-1]) < 0.1

    killed = fit(folder / "data", folder / "killed", *SCST, "--model.init_from", str(start),
                 "--trainer.callbacks+=tests.helpers.KillAtStep", "--trainer.callbacks.step", "14")
    assert killed.returncode == -9  # last.ckpt holds step 12, mid second epoch
    resumed = fit(folder / "data", folder / "killed", *SCST, "--model.init_from", str(start), "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    def validations(root):
        return [(row["step"], row["val/loss"], row["val/bleu"]) for row in rows(root) if row.get("val/loss")]

    assert validations(folder / "killed") == validations(folder / "full")  # the sampler's RNG was restored too


def test_init_from_a_checkpoint_with_other_vocabularies_is_refused_by_name(cross_entropy_run, tmp_path):
    folder, start = cross_entropy_run
    write_reverse_corpus(tmp_path / "other", {"train": 40, "val": 4, "test": 4}, seed=5)
    (tmp_path / "other" / "train.tgt").write_text("zz yy xx\n" * 40)
    run = fit(tmp_path / "other", tmp_path / "run", *SCST, "--model.init_from", str(start))
    assert run.returncode != 0
    assert re.search(re.escape(f"{start}: its vocabularies differ from this run's (") + r"(src|tgt) vocabulary: \d+ vs \d+ "
                     r"entries, first difference at entry \d+: .*\): init_from needs a checkpoint of the same task and "
                     "vocabularies", run.stderr)


def test_bad_endings_are_counted_and_reported_with_the_caption_scores():
    from captra.captioning.bad_endings import bad_ending_rate
    from captra.captioning.metrics import captioning_scores

    captions = ["a dog runs in the", "a dog runs", "two men sit on a", ""]
    assert bad_ending_rate(captions) == pytest.approx(100 * 2 / 3)  # the empty caption has no ending
    assert bad_ending_rate(captions, words=["runs"]) == pytest.approx(100 / 3)
    scores = captioning_scores(captions[:3], [["a dog runs"], ["a dog runs"], ["two men sit"]], meteor=False)
    assert scores["bad_endings"] == pytest.approx(100 * 2 / 3)


def test_the_captioning_module_resolves_bad_endings_to_vocabulary_ids(tmp_path):
    from captra.captioning.model import CaptioningModule

    write_split_captions(tmp_path)
    data = CaptioningDataModule(data_dir=str(tmp_path), min_freq=1)
    module = CaptioningModule(encoder={"backbone": "timm:test_efficientnet", "weights": "random"}, text=data.text)
    vocab = data.pipelines["tgt"].vocab
    rules = module.token_rules(SearchConfig(bad_endings=("a", "the", "zebra")))  # zebra: not in the vocabulary
    assert sorted(rules.no_end_after.tolist()) == sorted([vocab.stoi["a"], vocab.stoi["the"]])
    assert module.token_rules(SearchConfig()) is None
