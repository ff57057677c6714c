"""Shared pytest fixtures and environment for the genimg test suite."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    """The MNIST files in ../shared/data, or skip the test when this checkout has none."""
    raw = SHARED_DATA / "MNIST" / "raw"
    if not (raw / "train-images-idx3-ubyte").exists() and not (raw / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not present at {raw} (only the development machines have ../shared/data)")
    return SHARED_DATA
