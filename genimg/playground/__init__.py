"""The 2-D playground's library: toy distributions, tiny GAN / VAE / flow trainers, their views, pictures and metrics.

Self-contained small MLPs in torch, CPU-fast, so a page can train a model on a distribution small enough to see whole
and redraw it many times a second. Modules: distributions, models, views, render, metrics, bench.
"""
