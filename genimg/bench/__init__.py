"""Benchmarks: one module per measurement (explore, train, inference, digits, page, load, faults); `main` routes `python -m genimg bench …`."""
