"""A ZeroGPU Space, simulated (issue 17): the page's process sees `torch.cuda.is_available()` as True but must never
touch CUDA; GPU work runs in `spaces.GPU` functions, in another process, with a duration, and hands back CPU values.

The stub `spaces` module below does what the real one does to a decorated function: it runs the call in a forked
process and sends the result back pickled (so a CUDA tensor, or anything unpicklable, would fail here too). That
process stands for the GPU worker; this machine has no GPU, so there `is_available()` is False and it draws on the CPU.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from genimg.explore.catalog import Renderer, discover
from genimg.ui.context import ExploreContext
from genimg.ui.explore import EVERY_CLASS, ExploreHandlers

pytestmark = pytest.mark.usefixtures("one_thread")


class StubSpaces(types.ModuleType):
    """`spaces` as a ZeroGPU Space has it: GPU(duration=...) runs each call in a child process."""

    def __init__(self) -> None:
        super().__init__("spaces")
        self.durations: list[int] = []
        self.calls: list[int] = []  # the process id each call ran in

    def GPU(self, function=None, *, duration: int = 60):  # noqa: N802 - the real module's name
        def decorate(inner):
            self.durations.append(duration)

            def run_in_child(*args, **kwargs):
                context = multiprocessing.get_context("fork")
                receiving, sending = context.Pipe(duplex=False)

                def child():
                    torch.cuda.is_available = lambda: False  # the lent GPU's process; here, no GPU at all
                    try:
                        result = ("ok", os.getpid(), inner(*args, **kwargs))
                    except BaseException as error:  # noqa: BLE001 - sent back to the caller as the real one does
                        result = ("error", os.getpid(), repr(error))
                    sending.send_bytes(pickle.dumps(result))
                    os._exit(0)

                process = context.Process(target=child)
                process.start()
                status, pid, value = pickle.loads(receiving.recv_bytes())
                process.join(timeout=60)
                self.calls.append(pid)
                if status != "ok":
                    raise RuntimeError(value)
                return value
            return run_in_child
        return decorate(function) if function is not None else decorate


def cuda_touched(*_args, **_kwargs):
    raise AssertionError("CUDA was used in the page's own process")


@pytest.fixture
def zerogpu(monkeypatch):
    stub = StubSpaces()
    monkeypatch.setitem(sys.modules, "spaces", stub)
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # ZeroGPU patches it so in the main process
    monkeypatch.setattr(torch.cuda, "_lazy_init", cuda_touched)  # every CUDA tensor or .to("cuda") starts here
    import genimg.ui.gpu as gpu

    monkeypatch.setattr(gpu, "_lent", {})  # decorated afresh with this stub
    monkeypatch.setattr(gpu, "_renderers", {})
    return stub


def test_the_samples_tab_draws_in_a_lent_gpu_function_and_never_touches_cuda_here(zerogpu, tiny_models):
    context = ExploreContext(Renderer(), discover(tiny_models["gan"].parent))  # "auto", as the page builds it
    assert context.renderer.device.type == "cpu"
    handlers = ExploreHandlers(context)
    path = next(str(entry.path) for entry in context.entries if entry.name == "cgan")
    grid = handlers.samples(path, 7, 10, EVERY_CLASS)
    assert isinstance(grid, np.ndarray) and grid.dtype == np.uint8 and grid.ndim >= 2
    assert zerogpu.durations == [20] and len(zerogpu.calls) == 1 and zerogpu.calls[0] != os.getpid()
    # the same picture as drawn without ZeroGPU
    assert np.array_equal(grid, Renderer("cpu").sample_grid(path, 7, 10, None, scale=4))
    grid = handlers.samples(path, 8, 4, "3")
    assert len(zerogpu.calls) == 2 and zerogpu.durations == [20]  # decorated once, called per request


def test_the_train_tab_says_training_runs_on_the_cpu_on_zerogpu(zerogpu, tmp_path):
    from genimg.store.workspace import Workspaces
    from genimg.ui.train_tab import TrainHandlers

    trainer = TrainHandlers(ExploreContext(Renderer(), []), Workspaces(tmp_path))
    try:
        assert trainer.device.type == "cpu"
        assert "ZeroGPU" in trainer.device_text() and "GPU 只借给生成图片使用" in trainer.device_text("zh-CN")
    finally:
        trainer.pool.shutdown()


def test_nothing_changes_without_zerogpu(monkeypatch, tiny_models):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setitem(sys.modules, "spaces", None)  # no spaces package: importing it would fail
    handlers = ExploreHandlers(ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent)))
    path = next(str(entry.path) for entry in handlers.context.entries if entry.name == "gan")
    assert handlers.samples(path, 1, 4, EVERY_CLASS).dtype == np.uint8
