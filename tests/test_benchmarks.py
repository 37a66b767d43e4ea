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
