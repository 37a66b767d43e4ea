"""The micro-benchmark runs from the repository root and its three ways agree on the weights."""

import json
import subprocess
import sys


def test_attention_energy_benchmark_reports_equal_weights_and_timings():
    completed = subprocess.run(
        [sys.executable, "benchmarks/attention_energy.py", "--rows", "6", "--group", "2", "--positions", "5",
         "--memory-size", "8", "--query-size", "8", "--attention-size", "4", "--repeats", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["energy_elements"] == 6 * 2 * 5 * 4
    assert set(result["ms_per_step"]) == {"tanh_one_buffer", "sigmoid_one_buffer", "captra"}
    assert all(ms > 0 for ms in result["ms_per_step"].values())
    assert all(0 <= difference < 1e-6 for difference in result["max_weight_difference"].values())


def test_corpus_scale_benchmark_prepares_trains_and_measures(tmp_path):
    completed = subprocess.run(
        [sys.executable, "benchmarks/corpus_scale.py", "--ks", "1", "--legacy-ks", "--steps", "10", "--no-ddp",
         "--work", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (run,) = json.loads(completed.stdout)["runs"]
    assert (run["k"], run["pairs"], run["code"]) == (1, 29_000, "prepared")
    assert run["prepare"]["seconds"] > 0 and run["prepare"]["maxrss_mb"] > 100
    fit = run["fit"]
    assert 0 < fit["startup_s"] < fit["seconds"] and fit["tokens_per_s"] > 0
    assert 100 < fit["rss_at_train_start_mb"] <= fit["peak_rss_first_step_mb"] <= fit["maxrss_mb"] + 1


def test_serve_load_benchmark_measures_both_tasks_without_errors_and_with_the_offline_outputs(
        two_checkpoints, tiny_captioner, tmp_path):
    from tests.helpers import draw_shape

    _, best = two_checkpoints
    (tmp_path / "source.txt").write_text("a b c\nd e\nf g a b\nc\ne f g\ng a\n")
    for index, colour in enumerate(["red", "green", "blue"]):
        draw_shape(colour, "circle").save(tmp_path / f"{index}.jpg")
    (tmp_path / "images.txt").write_text("0.jpg\n1.jpg\n2.jpg\n")
    completed = subprocess.run(
        [sys.executable, "benchmarks/serve_load.py", "--ckpt", str(best[0]), "--caption-ckpt", str(tiny_captioner),
         "--text", str(tmp_path / "source.txt"), "--sentences", "6", "--image-list", str(tmp_path / "images.txt"),
         "--image-dir", str(tmp_path), "--images", "3", "--concurrency", "1", "3", "--soak-seconds", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    for task, inputs in (("translation", 6), ("captioning", 3)):
        levels = result[task]["served"]
        assert [level["clients"] for level in levels] == [1, 3]
        assert all(level["errors"] == 0 and level["outputs_differing_from_offline"] == 0 for level in levels)
        assert all(level["requests"] == inputs and level["inputs_per_second"] > 0 for level in levels)
        assert levels[0]["mean_batch_size"] == 1.0  # one client: every batch holds its one input
        assert result[task]["offline_batched"]["inputs_per_second"] > 0 and result[task]["one_input_in_process_ms"] > 0
    assert result["soak"]["errors"] == 0 and result["soak"]["answered"] > 0
    assert "cpu_extensions" in json.dumps(result["machine"])
