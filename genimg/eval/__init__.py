"""Judging models: the judge classifier, quality metrics (Fréchet distance, likelihood bounds) and model cards."""
