"""The training and inference benchmarks: smoke runs on tiny models, and the baseline against the engine on real MNIST."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from genimg.bench.inference import run_inference_bench
from genimg.bench.train import (
    Measurement,
    Plan,
    bench_models,
    measure,
    run_train_bench,
    tiny_bench_models,
)

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
    levers = [row[0] for row in rows if row[0] not in {"model (batch)", "lever"} and not row[0].startswith("tiny")]
    assert levers[:2] == ["glibc's default malloc (no allocator settings)", "batch 32 instead of 16"]
    assert "channels_last memory format" in levers


def test_inference_bench_reports_flops_and_peak():
    report = run_inference_bench(tiny_plan(), isolate=False)
    assert "Measured peak in this run" in report, report
    rows = {row[0]: row for row in table_rows(report)}
    dcgan = rows["tiny DCGAN 28×28"]
    assert float(dcgan[2]) > 0  # MFLOP per image, counted by FlopCounterMode
    assert float(dcgan[3]) > 0  # batch-1 latency in ms
    assert dcgan[-1].endswith("%")


def test_a_failing_worker_is_reported_not_raised():
    broken = Measurement(mode="engine", model=tiny_bench_models()["tiny-dcgan"], batch_size=100_000, synthetic=True)
    assert "batch_size" in measure(broken, isolate=False)["error"]


def test_baseline_and_engine_on_real_mnist(shared_data_root):
    model = bench_models()["mnist-dcgan"]
    for mode in ("baseline", "engine"):
        result = measure(Measurement(mode=mode, model=model, seconds=0.3, warmup_steps=2, threads=2,
                                     data_root=str(shared_data_root)), isolate=False)
        assert result.get("images_per_second", 0) > 0, (mode, result)


@pytest.mark.slow
def test_quick_bench_command_end_to_end(shared_data_root, tmp_path):
    out = tmp_path / "bench.md"
    finished = subprocess.run([sys.executable, "-m", "genimg", "bench", "train", "--quick", "--data-root",
                               str(shared_data_root), "--out", str(out)], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "failed" not in finished.stdout and out.read_text().startswith("### Training images/s")
