"""The worker's protocol: every engine event and worker message survives encode → decode as the same class
(a grid as the same pixels, a config as an equal TrainConfig); lines that are not messages raise WorkerError
naming what was wrong; a worker reports a bad job in words; a real worker process trains a tiny job on the
built-in shapes to Finished; a garbled line from a worker reaches the page as a WorkerError."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
import sys
import threading
import time

import gradio as gr  # at module level: Gradio resolves the handler's `request: gr.Request` hint among the globals
import numpy as np
import pytest
from PIL import Image

from genimg.config import ModelConfig, TrainConfig
from genimg.training.engine import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    Samples,
    Started,
    Stopped,
)
from genimg.training.worker import (
    CONTROL_TYPES,
    EVENT_TYPES,
    Job,
    Stop,
    Worker,
    WorkerError,
    WorkerFailed,
    WorkerReady,
    WorkerWarning,
    decode_control,
    decode_event,
    encode_message,
    worker_main,
)

TINY = TrainConfig(model=ModelConfig(kind="dcgan", image_size=32, channels=3, latent_dim=8, width=8),
                   dataset="shapes", data_limit=64, steps=6, batch_size=8, log_every=2, sample_every=3,
                   checkpoint_every=1000, device="cpu", precision="fp32", seed=3)
GREY = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
COLOUR = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)

EVENTS = [
    Started(step=0, total_steps=6, device="cpu", precision="bf16", parameters=12_345, dataset="shapes",
            dataset_size=3_000, resumed_from=None, config=TINY, sampling_network=object()),
    Started(step=40, total_steps=80, device="cuda:0", precision="fp32", parameters=1, dataset="upload:pets.zip",
            dataset_size=40, resumed_from="/tmp/run-1", config=TINY.replace(steps=80)),
    Progress(step=2, epoch=0, losses={"generator": 0.75, "discriminator": 1.25}, images_per_second=1_234.5,
             elapsed_seconds=0.25, total_steps=6, signals={"generator_grad_norm": 3.5}),
    Progress(step=4, epoch=1, losses={"kl": 2.0}, images_per_second=10.0, elapsed_seconds=1.0, total_steps=6),
    EpochEnd(step=4, epoch=1),
    Samples(step=3, grid=GREY, columns=8, diversity=0.5),
    Samples(step=6, grid=COLOUR, columns=2, diversity=None),
    CheckpointSaved(step=6, path="/tmp/run-1"),
    Finished(step=6, path="/tmp/run-1", elapsed_seconds=2.5),
    Finished(step=6, path=None, elapsed_seconds=2.5),
    Stopped(step=5, path="/tmp/run-1", reason="stopped by the user", elapsed_seconds=1.5),
    Diverged(step=5, loss_name="generator", value=float("inf"), path=None),
    WorkerReady(),
    WorkerWarning("step 5 could not be kept for replay: disk full"),
    WorkerFailed("not a zip file"),
]


def same(decoded: object, original: object) -> bool:
    """Equal field by field, arrays compared by their pixels and NaN equal to NaN."""
    if type(decoded) is not type(original):
        return False
    for item in dataclasses.fields(original):
        if not item.compare:
            continue
        left, right = getattr(decoded, item.name), getattr(original, item.name)
        if isinstance(right, np.ndarray):
            if not (isinstance(left, np.ndarray) and left.dtype == right.dtype and np.array_equal(left, right)):
                return False
        elif isinstance(right, float) and math.isnan(right):
            if not (isinstance(left, float) and math.isnan(left)):
                return False
        elif left != right or type(left) is not type(right):
            return False
    return True


# ------------------------------------------------------------------------------------------------ round trip
@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_every_event_survives_encode_and_decode_as_its_own_class(event):
    line = encode_message(event)
    assert "\n" not in line
    assert same(decode_event(line), event)


def test_a_nan_loss_and_the_live_network_are_handled():
    line = encode_message(Diverged(step=5, loss_name="kl", value=float("nan"), path="/tmp/run-1"))
    assert math.isnan(decode_event(line).value)
    started = decode_event(encode_message(EVENTS[0]))
    assert started.sampling_network is None and "sampling_network" not in json.loads(encode_message(EVENTS[0]))
    assert isinstance(started.config, TrainConfig) and started.config == TINY


def test_whole_numbers_in_number_fields_are_read_as_floats():
    line = '{"type": "Finished", "step": 6, "path": null, "elapsed_seconds": 3}'
    elapsed = decode_event(line).elapsed_seconds
    assert type(elapsed) is float and elapsed == 3.0


def test_every_engine_event_class_is_in_the_protocol():
    assert set(Event.__subclasses__()) <= set(EVENT_TYPES.values())
    covered = {type(event) for event in EVENTS}
    assert covered == set(EVENT_TYPES.values())


@pytest.mark.parametrize("message", [Job(config=TINY), Job(config=TINY, resume="/tmp/run-1", upload="/tmp/pets.zip",
                                                           snapshots="/tmp/run-1/steps", threads=2,
                                                           classes_from_data=True, quota_bytes=300 * 2**20,
                                                           budget_bytes=2**31), Stop()],
                         ids=["job", "job with everything", "stop"])
def test_control_messages_survive_encode_and_decode(message):
    assert decode_control(message.to_json()) == message
    assert type(message).from_json(message.to_json()) == message
    assert set(CONTROL_TYPES.values()) == {Job, Stop}


# ---------------------------------------------------------------------------------------------- bad lines
@pytest.mark.parametrize("line, words", [
    ("Traceback (most recent call last):", "not JSON"),
    ("", "not JSON"),
    ("[1, 2]", 'without a "type"'),
    ('{"step": 3}', 'without a "type"'),
    ('{"type": 7}', 'without a "type"'),
    ('{"type": "Exploded", "step": 3}', "unknown type 'Exploded'"),
    ('{"type": "Job", "config": {}}', "unknown type 'Job'"),  # a page's message is not a worker's
    ('{"type": "Finished", "step": 6, "elapsed_seconds": 1.0}', "without its 'path'"),
    ('{"type": "Finished", "step": 6, "path": null, "elapsed_seconds": 1.0, "extra": 1}', "unknown field(s) ['extra']"),
    ('{"type": "Finished", "step": "six", "path": null, "elapsed_seconds": 1.0}', "Finished.step = 'six'; expected a whole number"),
    ('{"type": "Finished", "step": true, "path": null, "elapsed_seconds": 1.0}', "Finished.step = True"),
    ('{"type": "Finished", "step": 6, "path": 4, "elapsed_seconds": 1.0}', "expected a string or null"),
    (('{"type": "Progress", "step": 2, "epoch": 0, "losses": {"g": "low"}, "images_per_second": 1, '
      '"elapsed_seconds": 1, "total_steps": 6}'), "Progress.losses"),
    ('{"type": "Samples", "step": 3, "grid": "bm90IGEgcG5n", "columns": 8}', "Samples.grid"),
    ('{"type": "Samples", "step": 3, "grid": "%%%", "columns": 8}', "expected a base64 PNG"),
    ('{"type": "WorkerFailed"}', "without its 'message'"),
])
def test_lines_that_are_not_events_raise_a_worker_error_naming_the_problem(line, words):
    with pytest.raises(WorkerError) as caught:
        decode_event(line)
    assert words in str(caught.value)


def test_a_config_the_page_would_refuse_is_a_worker_error():
    started = json.loads(encode_message(EVENTS[0]))
    started["config"]["steps"] = 0
    with pytest.raises(WorkerError, match=r"Started\.config .*steps"):
        decode_event(json.dumps(started))


def test_a_grid_must_be_grey_or_colour():
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 4), np.uint8), mode="RGBA").save(buffer, "PNG")
    line = json.loads(encode_message(Samples(step=1, grid=GREY, columns=8)))
    line["grid"] = base64.b64encode(buffer.getvalue()).decode("ascii")
    with pytest.raises(WorkerError, match="RGBA"):
        decode_event(json.dumps(line))


def test_control_lines_are_read_strictly_too():
    with pytest.raises(WorkerError, match="unknown type 'Progress'"):
        decode_control(encode_message(EVENTS[2]))
    with pytest.raises(WorkerError, match="expected a Job message, got Stop"):
        Job.from_json(Stop().to_json())
    with pytest.raises(WorkerError, match="not JSON"):
        decode_control("stop")


# ---------------------------------------------------------------------------------------------- the worker
def run_worker(lines: list[str]) -> tuple[int, list]:
    """worker_main in this process, reading `lines` as its stdin: its exit code and what it sent."""
    commands = io.StringIO("".join(line + "\n" for line in lines))
    output = io.StringIO()
    code = worker_main(commands, output)
    return code, [decode_event(line) for line in output.getvalue().splitlines()]


def test_a_worker_reports_a_job_it_cannot_read_or_run_in_words():
    code, sent = run_worker(["this is not a job"])
    assert code == 1 and isinstance(sent[0], WorkerReady) and isinstance(sent[-1], WorkerFailed)
    assert "could not read its job" in sent[-1].message and "not JSON" in sent[-1].message

    code, sent = run_worker([Job(config=TINY.replace(dataset="no-such-set")).to_json()])
    assert code == 1 and isinstance(sent[-1], WorkerFailed) and "no-such-set" in sent[-1].message

    code, sent = run_worker([Stop().to_json()])  # stopped before it got a job: nothing to do
    assert code == 0 and [type(message) for message in sent] == [WorkerReady]


def test_a_worker_process_trains_a_tiny_job_to_finished():
    worker = Worker(threads=1)
    try:
        worker.submit(Job(config=TINY, threads=1))
        events = []
        deadline = time.monotonic() + 120
        for event in worker.events():
            assert time.monotonic() < deadline, f"no ending after {events}"
            if event is not None:
                events.append(event)
    finally:
        worker.close(wait=10)
    assert isinstance(events[0], Started) and events[0].config == TINY and events[0].dataset == "shapes"
    assert isinstance(events[-1], Finished) and events[-1].step == TINY.steps
    progress_steps = [event.step for event in events if isinstance(event, Progress)]
    assert progress_steps == sorted(progress_steps) and progress_steps[-1] == TINY.steps
    grids = [event.grid for event in events if isinstance(event, Samples)]
    assert grids and all(grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3 for grid in grids)
    assert not any(isinstance(event, WorkerFailed) for event in events)
    assert worker.process.returncode == 0


def test_a_garbled_line_from_a_worker_reaches_the_page_as_a_worker_error():
    stand_in = ("import sys; print('{\"type\": \"WorkerReady\"}', flush=True); sys.stdin.readline(); "
                "print('{\"type\": \"EpochEnd\", \"step\": 1, \"epoch\": 1}'); print('Segmentation fault?', flush=True)")
    worker = Worker(command=[sys.executable, "-c", stand_in])
    try:
        worker.submit(Job(config=TINY))
        received = []
        with pytest.raises(WorkerError, match="not JSON: 'Segmentation fault"):
            for event in worker.events():
                if event is not None:
                    received.append(event)
        assert received == [EpochEnd(step=1, epoch=1)]  # what came before it was read
    finally:
        worker.close(wait=10)


# ------------------------------------------------------------------------------------------ the fair queue
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class StandInWorker:
    """Records stop() like a Worker would receive it."""

    def __init__(self) -> None:
        self.stops = 0

    def stop(self) -> None:
        self.stops += 1


def test_twelve_starts_from_one_client_leave_an_honest_user_first_in_line(monkeypatch):
    from genimg.training.worker import QueueRefused, TrainingQueue

    monkeypatch.delenv("GENIMG_JOBS_PER_ADDRESS", raising=False)  # the default: one job per address
    queue = TrainingQueue(slots=1, length=8, run_seconds=600)
    running = queue.enter("honest-earlier", "192.0.2.50")  # someone already trains
    admitted, refused = [], []
    for number in range(12):  # one client, a fresh workspace for each Start
        try:
            admitted.append(queue.enter(f"abuser-{number}", "203.0.113.9"))
        except QueueRefused as error:
            refused.append(error)
    honest = queue.enter("honest", "198.51.100.1")
    assert len(admitted) == 1 and len(refused) == 11
    assert all(error.key == "limits.one_job" for error in refused)
    assert running.position == 0 and honest.position <= 2  # at most the abuser's one run waits ahead
    with pytest.raises(QueueRefused) as caught:
        queue.enter("honest", "198.51.100.2")  # one per workspace too
    assert caught.value.key == "limits.one_job"


def test_a_class_behind_one_address_may_share_more_places(monkeypatch):
    from genimg.training.worker import QueueRefused, TrainingQueue

    monkeypatch.setenv("GENIMG_JOBS_PER_ADDRESS", "3")
    queue = TrainingQueue(slots=1, length=8, run_seconds=600)
    students = [queue.enter(f"student-{number}", "192.0.2.200") for number in range(3)]
    assert [ticket.position for ticket in students] == [0, 1, 2]
    with pytest.raises(QueueRefused):
        queue.enter("student-3", "192.0.2.200")


def test_a_full_queue_says_when_to_come_back():
    from genimg.training.worker import QueueRefused, TrainingQueue

    clock = Clock()
    queue = TrainingQueue(slots=1, length=2, run_seconds=600, clock=clock)
    first = queue.enter("w0", "192.0.2.0")
    queue.enter("w1", "192.0.2.1")
    queue.enter("w2", "192.0.2.2")
    clock.now += 240  # the running one has at most 6 minutes left
    with pytest.raises(QueueRefused) as caught:
        queue.enter("w3", "192.0.2.3")
    assert caught.value.key == "limits.queue_full" and caught.value.minutes == 6
    assert "queue is full" in str(caught.value) and "6 min" in str(caught.value)
    first.release()
    assert queue.enter("w3", "192.0.2.3").position == 2  # a place freed: the next moved up


def test_a_page_that_stopped_reading_gives_up_its_place_after_a_grace():
    from genimg.training.worker import TrainingQueue

    clock = Clock()
    reading = {"running": True, "waiting": True}
    queue = TrainingQueue(slots=1, length=4, run_seconds=600, grace_seconds=10, clock=clock)
    running = queue.enter("w0", "192.0.2.0", reading=lambda: reading["running"])
    waiting = queue.enter("w1", "192.0.2.1", reading=lambda: reading["waiting"])
    honest = queue.enter("w2", "192.0.2.2")
    worker = StandInWorker()
    running.attach(worker)
    reading["running"] = reading["waiting"] = False
    assert honest.position == 2  # the queue looks (the waiting pages poll it twice a second)
    clock.now += 5
    assert honest.position == 2 and worker.stops == 0  # within the grace nothing happens
    clock.now += 6
    assert honest.position == 1 and waiting.abandoned and running.abandoned and worker.stops == 1
    assert list(waiting.wait()) == []  # an abandoned ticket's wait ends at once


def test_stop_works_while_waiting_and_before_the_worker_is_attached():
    from genimg.training.worker import TrainingQueue

    queue = TrainingQueue(slots=1, length=4, run_seconds=600)
    running = queue.enter("w0", "192.0.2.0")
    waiting = queue.enter("w1", "192.0.2.1")
    waiting.stop()
    assert waiting.stopped and list(waiting.wait()) == [] and queue.enter("w2", "192.0.2.2").position == 1
    running.stop()  # pressed before the worker process exists
    worker = StandInWorker()
    running.attach(worker)
    assert worker.stops == 1


def test_stop_half_a_second_after_start_stops_the_run():
    """Stop is pressed while the worker process still imports torch (or loads data): the run stops, it is not
    ignored, and it ends as Stopped."""
    from genimg.training.worker import TrainingQueue

    queue = TrainingQueue(slots=1, length=4, run_seconds=600)
    ticket = queue.enter("w0", "192.0.2.0")
    worker = Worker(threads=1)
    ticket.attach(worker)
    stopper = threading.Timer(0.5, ticket.stop)
    stopper.start()
    try:
        worker.submit(Job(config=TINY.replace(steps=100_000, checkpoint_every=100_000), threads=1))
        events = [event for event in worker.events() if event is not None]
    finally:
        stopper.cancel()
        worker.close(wait=10)
        ticket.release()
    assert events and isinstance(events[-1], Stopped), events[-3:]
    assert events[-1].reason == "stopped by the user" and events[-1].step < 100_000
    assert not any(isinstance(event, WorkerFailed) for event in events)


def test_a_start_that_only_joined_the_queue_gives_up_the_slot_to_an_honest_user():
    """On a launched page: a client that joins the queue and never reads its stream takes the slot first; once
    its updates pile up unread past the grace, it loses it and the honest user's run goes ahead."""
    import httpx
    from gradio_client import Client

    from genimg.training.worker import TrainingQueue, stream_reader

    queue = TrainingQueue(slots=1, length=4, run_seconds=600, per_address=4, grace_seconds=1)
    tickets = {}

    def start(workspace: str, request: gr.Request):
        ticket = queue.enter(workspace, "127.0.0.1", reading=stream_reader(request, most_unread=5))
        tickets[workspace] = ticket
        try:
            for position in ticket.wait(poll_seconds=0.1):
                yield f"waiting, place {position}"
            for _ in range(600 if workspace == "abuser" else 3):  # the abuser's run would hold the slot a minute
                if ticket.abandoned or ticket.stopped or not ticket.may_run:
                    return
                yield "running"
                time.sleep(0.1)
            yield "ran"
        finally:
            ticket.release()

    with gr.Blocks() as demo:
        workspace_box, status = gr.Textbox(), gr.Textbox()
        workspace_box.submit(start, workspace_box, status, api_name="start", concurrency_limit=8)
    url = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)[1].rstrip("/")
    try:
        dependencies = httpx.get(f"{url}/config").json()["dependencies"]
        index = next(item["id"] for item in dependencies if item.get("api_name") == "start")
        joined = httpx.post(f"{url}/gradio_api/queue/join", json={
            "data": ["abuser"], "fn_index": index, "session_hash": "joins-and-never-reads", "trigger_id": None})
        assert joined.status_code == 200
        deadline = time.monotonic() + 60
        while "abuser" not in tickets or not tickets["abuser"].may_run:
            assert time.monotonic() < deadline, "the abuser's Start never took the slot"
            time.sleep(0.1)
        result = Client(url, verbose=False).submit("honest", api_name="/start").result(timeout=120)
        assert result == "ran"
        assert tickets["abuser"].abandoned
    finally:
        demo.close()
