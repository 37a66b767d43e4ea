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
