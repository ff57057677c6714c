"""The installation's limits: numbers from the environment with sane defaults (a bad value is refused naming
it), and on a launched page the upload cap refuses a 21 MB upload before it is stored, nothing of it kept,
while Gradio's cache clean-up removes old uploads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest

from genimg.store.limits import (
    CHINESE,
    DEFAULT_DISK_BUDGET_MB,
    DEFAULT_UPLOAD_MB,
    ENGLISH,
    cache_policy,
    disk_budget_bytes,
    jobs_per_address,
    launch_options,
    queue_length,
    upload_limit_bytes,
)


def test_defaults_suit_a_free_space(monkeypatch):
    for name in ("GENIMG_DISK_BUDGET_MB", "GENIMG_UPLOAD_MB", "GENIMG_CACHE_MINUTES", "GENIMG_QUEUE_LENGTH",
                 "GENIMG_JOBS_PER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    assert disk_budget_bytes() == DEFAULT_DISK_BUDGET_MB * 2**20
    assert upload_limit_bytes() == DEFAULT_UPLOAD_MB * 2**20 <= 20 * 2**20
    assert launch_options() == {"max_file_size": upload_limit_bytes()}
    frequency, age = cache_policy()
    assert 0 < frequency < age
    assert queue_length() >= 1 and jobs_per_address() == 1


def test_values_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GENIMG_DISK_BUDGET_MB", "512")
    monkeypatch.setenv("GENIMG_UPLOAD_MB", "2.5")
    monkeypatch.setenv("GENIMG_CACHE_MINUTES", "30")
    monkeypatch.setenv("GENIMG_QUEUE_LENGTH", "3")
    monkeypatch.setenv("GENIMG_JOBS_PER_ADDRESS", "30")
    assert disk_budget_bytes() == 512 * 2**20
    assert launch_options() == {"max_file_size": int(2.5 * 2**20)}
    assert cache_policy() == (300, 1800)
    assert queue_length() == 3 and jobs_per_address() == 30


@pytest.mark.parametrize("name,value,reader", [
    ("GENIMG_DISK_BUDGET_MB", "lots", disk_budget_bytes), ("GENIMG_DISK_BUDGET_MB", "-1", disk_budget_bytes),
    ("GENIMG_UPLOAD_MB", "nan", upload_limit_bytes), ("GENIMG_UPLOAD_MB", "inf", upload_limit_bytes),
    ("GENIMG_QUEUE_LENGTH", "2.5", queue_length), ("GENIMG_CACHE_MINUTES", "0", cache_policy),
    ("GENIMG_JOBS_PER_ADDRESS", "0", jobs_per_address)])
def test_a_bad_value_is_refused_naming_it(monkeypatch, name, value, reader):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}={value!r}.*expected a"):
        reader()


def test_every_message_is_in_both_languages():
    assert set(ENGLISH) == set(CHINESE)
    for key, english in ENGLISH.items():
        fields = {part.split("}")[0] for part in english.split("{")[1:]}
        assert fields == {part.split("}")[0] for part in CHINESE[key].split("{")[1:]}, key


# ------------------------------------------------------------------------------------ a launched page
@pytest.fixture
def page(tmp_path, monkeypatch):
    """A tiny page with one upload box, launched with the installation's options; (its URL, Gradio's
    upload folder)."""
    uploads = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    monkeypatch.setenv("GENIMG_CACHE_MINUTES", "0.05")  # 3 s, checked every second
    with gr.Blocks(delete_cache=cache_policy()) as demo:
        box = gr.File(type="filepath")
        shown = gr.Textbox()
        box.upload(lambda path: str(path), box, shown)
    url = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **launch_options())[1]
    try:
        yield url.rstrip("/"), uploads
    finally:
        demo.close()


def kept_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) if folder.exists() else 0


def upload(url: str, name: str, size: int) -> httpx.Response:
    payload = os.urandom(size)
    return httpx.post(f"{url}/gradio_api/upload", files={"files": (name, payload, "application/zip")}, timeout=120)


def test_an_upload_over_the_cap_is_refused_before_it_is_stored(page):
    url, uploads = page
    before = kept_bytes(uploads)
    refused = upload(url, "big.zip", 21 * 2**20)
    assert refused.status_code == 413, refused.text[:200]
    assert kept_bytes(uploads) == before  # nothing of it kept
    accepted = upload(url, "small.zip", 2**20)  # the route works for an upload under the cap
    assert accepted.status_code == 200 and Path(accepted.json()[0]).is_file()


def test_old_uploads_are_deleted_from_gradios_cache(page):
    url, _ = page
    response = upload(url, "small.zip", 64 * 1024)
    kept = Path(response.json()[0])
    assert kept.is_file()
    deadline = time.monotonic() + 60
    while kept.exists():
        assert time.monotonic() < deadline, f"{kept.name} still kept after a minute with a 3 s age limit"
        time.sleep(0.5)
