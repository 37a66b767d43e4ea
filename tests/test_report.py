"""`captra report` on tiny checkpoints of both tasks: every section, metrics that re-score identically."""

import json
import re
import shutil
import subprocess
import sys

from dataclasses import replace

import numpy as np
import pytest
import torch
from nltk.translate.bleu_score import corpus_bleu
from PIL import Image

from captra.captioning.coco_metrics import coco_scores
from captra.common.checkpoints.loading import load_module
from captra.common.cli.main import main, run_lightning
from captra.common.decoding.ensemble import Ensemble
from captra.common.report.split import load_split
from captra.common.task import get_task
from captra.translation.evaluation import decode as translation_decode
from tests.helpers import write_reverse_corpus, write_shapes_dataset
from tests.test_captioning_end_to_end import fit_args as caption_fit_args
from tests.test_translation_end_to_end import fit_args as translation_fit_args

SECTIONS = ["## Scores", "## Evaluation protocol", "## Run metadata", "## Plots", "## Examples", "### best",
            "### worst", "### random", "## Attention"]


@pytest.fixture(scope="module")
def translation_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report-translation")
    write_reverse_corpus(folder / "data", {"train": 600, "val": 30, "test": 25})
    run_lightning(translation_fit_args(folder / "data", folder / "run", "--trainer.max_epochs", "4"))
    checkpoints = folder / "run" / "version_0" / "checkpoints"
    return folder, sorted(checkpoints.glob("best-*.ckpt"))[0], checkpoints / "last.ckpt"


def report(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *args])
    return exit_info.value.code, capsys.readouterr().err


def test_a_translation_report_has_every_section_and_rescores_identically(translation_checkpoints, tmp_path, capsys):
    folder, best, last = translation_checkpoints
    out = tmp_path / "report"
    code, err = report(capsys, "--ckpt", str(best), "--ckpt", str(last), "--split", "test", "--beam", "2",
                       "--out", str(out), "--bootstrap-samples", "50")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["checkpoints"][0]["scores"]
    assert metrics["examples"] == 25 and set(scores) >= {"bleu", "bleu_lc", "chrf", "signature"}
    assert len(metrics["significance"]) == 1 and 0 < next(iter(metrics["significance"].values()))["p_value"] <= 1
    hypotheses = out / "hypotheses.txt"
    assert len(hypotheses.read_text().splitlines()) == 25
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(folder / "data" / "test.tgt"), "-i", str(hypotheses),
                          "-m", "bleu", "-b", "-w", "4"], capture_output=True, text=True)
    assert float(cli.stdout) == pytest.approx(scores["bleu"], abs=1e-4)  # the sacrebleu command line agrees
    markdown = (out / "report.md").read_text()
    assert all(section in markdown for section in SECTIONS)
    assert "Significance (paired bootstrap)" in markdown and "nrefs:1\\|case:mixed" in markdown
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["attention_1.png", "attention_2.png", "lengths_1.png", "lengths_2.png", "score_by_length.png"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "figures/" not in html  # self-contained
    # scores by name, one signature per row, the configuration folded after the plots
    assert "| BLEU, lowercased |" in markdown and "| bleu_lc |" not in markdown and "### Signatures" in markdown
    assert "| chrF | nrefs:1\\|case:mixed" in markdown  # a signature row (table cells escape "|")
    assert html.index("<h2>Plots</h2>") < html.index("<details><summary>Configuration of") < html.index("<h2>Examples")


def test_a_captioning_report_scores_with_coco_and_nltk_and_draws_attention_maps(tmp_path, capsys):
    write_shapes_dataset(tmp_path / "data")
    run_lightning(caption_fit_args(tmp_path / "data", tmp_path / "run", "configs/captioning/base.yaml",
                                   "--trainer.max_epochs", "20", "--trainer.check_val_every_n_epoch", "20"))
    ckpt = tmp_path / "run" / "version_0" / "checkpoints" / "last.ckpt"
    out = tmp_path / "report"
    code, err = report(capsys, "--ckpt", str(ckpt), "--split", "test", "--out", str(out))
    assert code == 0, err
    scores = json.loads((out / "metrics.json").read_text())["checkpoints"][0]["scores"]
    hypotheses = (out / "hypotheses.txt").read_text().splitlines()
    references = [["a {} {} on a white background".format(*n.split("_")), "there is one {} {} here".format(*n.split("_"))]
                  for n in (p.strip()[:-4] for p in (tmp_path / "data" / "Flickr_8k.testImages.txt").read_text().split())]
    nltk_bleu4 = 100 * corpus_bleu([[r.split() for r in refs] for refs in references], [h.split() for h in hypotheses])
    assert scores["bleu4"] == pytest.approx(nltk_bleu4, abs=1e-6)
    coco = coco_scores(hypotheses, references)  # the COCO caption evaluation run by hand on hypotheses.txt
    for name, value in coco.scores.items():
        assert scores[name] == pytest.approx(value, abs=1e-9), name
    assert {"cider", "meteor", "rouge_l", "bleu1_coco", "bleu4_coco", "bleu1", "bleu4"} <= set(scores)
    markdown, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert all(section in markdown for section in SECTIONS)
    for row in ("| CIDEr-D |", "| METEOR |", "| ROUGE-L |", "| BLEU-4 (COCO evaluation) |", "| BLEU-4 (nltk corpus_bleu) |"):
        assert row in markdown
    assert "<td>CIDEr-D</td>" in html and "<td>METEOR</td>" in html and "pycocoevalcap-1.2\\|tok:ptb\\|refs:2" in markdown
    assert (out / "figures" / "attention_1.png").stat().st_size > 1000


def test_wrong_inputs_give_one_line_errors(translation_checkpoints, tmp_path, capsys):
    _, best, _ = translation_checkpoints
    code, err = report(capsys, "--ckpt", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "r"))
    assert code == 2 and "missing.ckpt: no such checkpoint file" in err
    code, err = report(capsys, "--ckpt", str(best), "--split", "nosuchsplit", "--out", str(tmp_path / "r"))
    assert code == 2 and "nosuchsplit" in err and "no such file" in err
    assert not (tmp_path / "r").exists()  # nothing half-written


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/install installs it)")
def test_the_html_report_shows_its_plots_in_a_headless_browser(translation_checkpoints, tmp_path, capsys):
    _, best, _ = translation_checkpoints
    out = tmp_path / "report"
    code, err = report(capsys, "--ckpt", str(best), "--split", "test", "--out", str(out))
    assert code == 0, err

    def blue_pixels(html_file) -> int:
        """Pixels of matplotlib's first colour (the bars of the score-by-length plot) in a screenshot."""
        shot = tmp_path / f"{html_file.stem}.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={shot}", "--window-size=1200,6000", html_file.as_uri()],
                       capture_output=True, timeout=120)
        pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
        return int((np.abs(pixels - [31, 119, 180]).sum(axis=1) < 40).sum())

    without_images = tmp_path / "no-images.html"
    without_images.write_text(re.sub(r"<img [^>]*>", "", (out / "report.html").read_text()))
    assert blue_pixels(out / "report.html") > 2000  # the plots are drawn ...
    assert blue_pixels(without_images) == 0  # ... and nothing else on the page has their colour


def test_the_report_under_torchrun_equals_the_single_process_report(translation_checkpoints, tmp_path, capsys):
    _, best, _ = translation_checkpoints
    code, err = report(capsys, "--ckpt", str(best), "--split", "test", "--out", str(tmp_path / "single"))
    assert code == 0, err
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
               "-m", "captra", "report", "--ckpt", str(best), "--split", "test", "--out", str(tmp_path / "ddp")]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "ddp" / "hypotheses.txt").read_text() == (tmp_path / "single" / "hypotheses.txt").read_text()
    ddp_scores = json.loads((tmp_path / "ddp" / "metrics.json").read_text())["checkpoints"][0]["scores"]
    single_scores = json.loads((tmp_path / "single" / "metrics.json").read_text())["checkpoints"][0]["scores"]
    assert ddp_scores == single_scores


def test_test_and_val_name_the_runs_configured_splits_and_other_names_themselves(translation_checkpoints, tmp_path, capsys):
    """A run whose test split is named like Multi30k's (`test_2016_flickr`): `--split test` reads that one."""
    folder, best, _ = translation_checkpoints
    data, run = tmp_path / "data", tmp_path / "run" / "version_0"
    shutil.copytree(folder / "data", data)
    for side in ("src.gz", "tgt"):
        (data / f"test.{side}").rename(data / f"test_2016_flickr.{side}")
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(best, run / "checkpoints" / best.name)
    config = (best.parent.parent / "config.yaml").read_text()
    config = config.replace(str(folder / "data"), str(data)).replace("test_split: test\n", "test_split: test_2016_flickr\n")
    (run / "config.yaml").write_text(config)
    expected = {"test": ("test_2016_flickr", 25), "val": ("val", 30), "train": ("train", 600)}
    for split, (name, examples) in expected.items():
        code, err = report(capsys, "--ckpt", str(run / "checkpoints" / best.name), "--split", split, "--beam", "1",
                           "--out", str(tmp_path / split), "--bootstrap-samples", "10")
        assert code == 0, err
        metrics = json.loads((tmp_path / split / "metrics.json").read_text())
        assert (metrics["split"], metrics["examples"]) == (name, examples)


def test_identical_outputs_get_no_bootstrap():
    from types import SimpleNamespace

    from captra.common.report.command import paired_test

    system = {"task": SimpleNamespace(paired_test=None), "data": SimpleNamespace(references=[["a b"]]),
              "hypotheses": ["a b"]}
    assert paired_test(system, dict(system), samples=10) == {"p_value": 1.0, "method": "identical outputs: nothing to test"}


def test_the_generic_bootstrap_resamples_the_main_metric():
    from captra.common.report.analysis import paired_bootstrap

    def accuracy(hypotheses, references):
        return 100.0 * sum(h == refs[0] for h, refs in zip(hypotheses, references)) / len(references)

    references = [[str(i)] for i in range(40)]
    right, half = [str(i) for i in range(40)], [str(i) if i % 2 else "x" for i in range(40)]
    assert paired_bootstrap(accuracy, "accuracy", half, right, references, samples=200)["p_value"] < 0.01
    assert paired_bootstrap(accuracy, "accuracy", right, half, references, samples=200)["p_value"] > 0.99


def test_the_bootstrap_follows_a_lower_is_better_main_metric():
    from captra.common.report.analysis import paired_bootstrap

    def error_rate(hypotheses, references):
        return 100.0 * sum(h != refs[0] for h, refs in zip(hypotheses, references)) / len(references)

    references = [[str(i)] for i in range(40)]
    right, half = [str(i) for i in range(40)], [str(i) if i % 2 else "x" for i in range(40)]
    assert paired_bootstrap(error_rate, "error", half, right, references, 200, lower_is_better=True)["p_value"] < 0.01
    assert paired_bootstrap(error_rate, "error", right, half, references, 200, lower_is_better=True)["p_value"] > 0.99


def test_a_plus_joined_system_is_the_ensemble_of_its_checkpoints(translation_checkpoints, tmp_path, capsys):
    folder, best, last = translation_checkpoints
    out = tmp_path / "ensemble"
    code, err = report(capsys, "--ckpt", str(best), "--ckpt", f"{best}+{last}", "--split", "test", "--beam", "2",
                       "--out", str(out), "--bootstrap-samples", "20")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    names = [system["name"] for system in metrics["checkpoints"]]
    assert names == [best.stem, f"{best.stem}+last"]
    ensemble = Ensemble([load_module(best), load_module(last)], ["best", "last"]).eval()
    data = load_split(get_task("translation"), best, "test", None)
    config = replace(ensemble.search_config, beam_size=2)
    expected = translation_decode(ensemble, data, config, 64, torch.device("cpu"))
    written = (out / f"hypotheses.{best.stem}+last.txt").read_text().splitlines()
    assert written == expected  # the report's second system is the two checkpoints' ensemble


def test_the_bootstrap_p_value_counts_the_resamples_where_the_second_system_is_not_better():
    from captra.captioning.metrics import paired_bootstrap_cider
    from captra.common.report.analysis import bootstrap_p_value

    assert bootstrap_p_value(lambda rows: 1.0, 10, 99, seed=1) == 1 / 100  # better on every resample
    assert bootstrap_p_value(lambda rows: 0.0, 10, 99, seed=1) == 1.0  # a tie is not better
    assert 0.3 < bootstrap_p_value(lambda rows: sum(1 if r % 2 else -1 for r in rows), 10, 999, seed=1) < 0.7
    references = [["a dog runs"], ["a cat sits"], ["a red car"], ["two birds fly"]]
    worse, better = ["a cat", "a dog", "car", "birds"], ["a dog runs", "a cat sits", "a red car", "birds"]
    assert paired_bootstrap_cider(worse, better, references, 200)["p_value"] < 0.05
    assert paired_bootstrap_cider(better, worse, references, 200)["p_value"] == 1.0
