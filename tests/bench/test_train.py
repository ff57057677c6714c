"""The training benchmark: smoke runs on tiny models, levers through the engine's prepare_model, and the baseline against the engine on real MNIST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genimg.bench.measure import Measurement, Plan, bench_models, measure, tiny_bench_models
from genimg.bench.train import apply_levers, run_train_bench, run_train_measurement

REPO_ROOT = Path(__file__).resolve().parents[2]


def tiny_plan() -> Plan:
    return Plan(models=tiny_bench_models(), seconds=0.2, warmup_steps=2, threads=1, device="cpu", data_root=None,
                synthetic=True, levers=True, compile_timeout=1.0, loader_workers=0)


def table_rows(report: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in report.splitlines()
            if line.startswith("| ") and not line.startswith("|---")]


def test_train_bench_tables_on_tiny_models():
    report = run_train_bench(tiny_plan(), isolate=False)
    assert "failed" not in report, report
    rows = table_rows(report)
    models = [row for row in rows if row[0].startswith("tiny")]
    assert [row[0] for row in models] == ["tiny DCGAN 28×28 (16)", "tiny conditional VAE 28×28 (16)"]
    for row in models:
        baseline, genimg = (float(cell.replace(",", "")) for cell in row[1:3])
        assert baseline > 0 and genimg > 0 and row[3].endswith("×")
    levers = [row for row in rows if row[0] not in {"model (batch)", "lever"} and not row[0].startswith("tiny")]
    assert [row[0] for row in levers] == ["glibc's default malloc (no allocator settings)", "batch 32 instead of 16",
                                          "channels_last memory format"]
    for row in levers:  # every lever is measured through the engine and compared with its default
        assert float(row[1].replace(",", "")) > 0 and row[2].endswith("× of genimg default"), row


def test_channels_last_reaches_the_engines_network():
    levers = apply_levers(Measurement(mode="engine", channels_last=True))
    assert levers is not None
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3))
    weight = network[0].weight
    levers(network)
    assert network[0].weight is weight  # the optimiser's parameter, converted in place
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert apply_levers(Measurement(mode="engine")) is None


def test_a_failing_worker_is_reported_not_raised():
    broken = Measurement(mode="engine", model=tiny_bench_models()["tiny-dcgan"], batch_size=100_000, synthetic=True)
    assert "batch_size" in measure(broken, run_train_measurement, isolate=False)["error"]


def test_a_measurement_in_a_fresh_interpreter_comes_back():
    quick = Measurement(mode="engine", model=tiny_bench_models()["tiny-dcgan"], seconds=0.2, warmup_steps=2,
                        threads=1, synthetic=True)
    result = measure(quick, run_train_measurement, timeout=120)
    assert result.get("images_per_second", 0) > 0, result


def test_baseline_and_engine_on_real_mnist(shared_data_root):
    model = bench_models()["mnist-dcgan"]
    for mode in ("baseline", "engine"):
        result = measure(Measurement(mode=mode, model=model, seconds=0.3, warmup_steps=2, threads=2,
                                     data_root=str(shared_data_root)), run_train_measurement, isolate=False)
        assert result.get("images_per_second", 0) > 0, (mode, result)


@pytest.mark.slow
def test_quick_bench_command_end_to_end(shared_data_root, tmp_path):
    out = tmp_path / "bench.md"
    finished = subprocess.run([sys.executable, "-m", "genimg", "bench", "train", "--quick", "--data-root",
                               str(shared_data_root), "--out", str(out)], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "failed" not in finished.stdout and out.read_text().startswith("### Training images/s")
