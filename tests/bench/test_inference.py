"""The generator inference benchmark on tiny models: FLOPs, latency and the fraction of the measured peak."""

from __future__ import annotations

from genimg.bench.inference import run_inference_bench
from genimg.bench.measure import Plan, tiny_bench_models


def test_inference_bench_reports_flops_and_peak():
    plan = Plan(models=tiny_bench_models(), seconds=0.2, warmup_steps=2, threads=1, device="cpu", data_root=None,
                synthetic=True, levers=False, compile_timeout=1.0, loader_workers=0)
    report = run_inference_bench(plan, isolate=False)
    assert "Measured peak in this run" in report, report
    rows = {row[0]: row for row in ([cell.strip() for cell in line.strip("|").split("|")]
                                    for line in report.splitlines() if line.startswith("| "))}
    dcgan = rows["tiny DCGAN 28×28"]
    assert float(dcgan[2]) > 0  # MFLOP per image, counted by FlopCounterMode
    assert float(dcgan[3]) > 0  # batch-1 latency in ms
    assert dcgan[-1].endswith("%")
