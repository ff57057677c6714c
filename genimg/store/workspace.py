"""Per-user workspaces for models trained in the page: signed tokens, runs, saved models, a disk quota, clean-up.

A workspace is a folder named by a random id. The browser holds a token, the id plus an HMAC-SHA256 signature
made with this installation's secret: only the server issues tokens (on a page load without a valid one, a
few per client address per hour), and a token it did not sign is refused, so a visitor cannot make up
workspaces at will, and a user finds their models again after a reload, in a second tab or after the server
restarts (the secret is kept on disk, or comes from GENIMG_SECRET). Layout:

    <root>/.secret                           the installation's secret (created once, mode 0600)
    <root>/.budget.lock                      serialises making room between the page and its training workers
    <root>/<id>/.lock                        held (shared) by a training worker while it writes: never evicted then
    <root>/<id>/.evicted                     left when the workspace's work was removed to make room (for the notice)
    <root>/<id>/runs/<run id>/               the engine's checkpoint folder for one run (resumable)
    <root>/<id>/runs/<run id>/steps/step-N   each saved step, weights only, for replay → Explore
    <root>/<id>/models/<name>/               models saved with "Save as" (weights only), listed in Explore

Shipped checkpoints live elsewhere and are never written. Workspaces untouched for `ttl_hours` are
deleted. Disk is bounded twice: each workspace is held to `quota_bytes` (its share; its oldest runs go first),
and all of them together to `budget_bytes` (GENIMG_DISK_BUDGET_MB, see genimg/store/limits.py): a write that
would pass the budget first evicts the workspaces unused the longest, whole, except those being written, and
their owners are told on return (Workspace.take_eviction_notice).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from genimg.config import PROJECT_ROOT
from genimg.store.checkpoint import (
    CONFIG_FILE_NAME,
    CheckpointError,
    read_config,
    read_model_file,
    write_file_atomic,
)
from genimg.store.limits import ENGLISH, disk_budget_bytes, environment_number

try:  # advisory file locks: a training worker marks its workspace busy, in a process of its own
    import fcntl
except ImportError:  # not on Windows: there only this process's own bookkeeping protects a busy workspace
    fcntl = None  # type: ignore[assignment]

# A workspace's id, which names its folder; always used with fullmatch ("$" would pass a final newline).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")
SIGNATURE_LENGTH = 43  # an HMAC-SHA256 digest in unpadded URL-safe base64
# What a browser holds: "<id>.<signature>". The dot is outside both alphabets, so a token splits one way only.
TOKEN_PATTERN = re.compile(rf"({ID_PATTERN.pattern})\.([A-Za-z0-9_-]{{{SIGNATURE_LENGTH}}})")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
DEFAULT_ROOT = PROJECT_ROOT / "workspaces"
DEFAULT_QUOTA_MB = 300
DEFAULT_TTL_HOURS = 24.0
SECRET_FILE_NAME = ".secret"  # starts with a dot: never a workspace id, so clean() and is_inside() skip it
SECRET_ENVIRONMENT = "GENIMG_SECRET"
MIN_SECRET_CHARACTERS = 32
# New workspaces per client address: a burst (a class behind one school address all opening the page at
# once), then a steady rate. A browser that keeps its token never asks again.
DEFAULT_ISSUE_BURST = 40
DEFAULT_ISSUE_PER_HOUR = 40.0
MAX_TRACKED_ADDRESSES = 10_000  # the limiter forgets addresses whose bucket is full again beyond this many
LOCK_FILE_NAME = ".lock"
EVICTED_FILE_NAME = ".evicted"
BUDGET_LOCK_FILE_NAME = ".budget.lock"


# Stopped.reason of a run the disk stopped (its text goes on after a colon); the page words it for the visitor.
STOPPED_FOR_DISK = "stopped: the workspace's disk share is full"
STOPPED_FOR_BUDGET = "stopped: the server's disk budget is full"


class WorkspaceError(ValueError):
    """A refusal from the workspace, str() in English. `key` (a message key of genimg/store/limits.py's
    ENGLISH/CHINESE; "" for one worded in English only) and `values` let a page word it in the visitor's language."""

    key: str = ""
    values: dict[str, object] = {}  # noqa: RUF012  (read only: each refusal sets its own)


class WorkspaceRefusal(WorkspaceError):
    """A refusal a visitor reads: its English text is ENGLISH[key] with `values` filled in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(ENGLISH[key].format(**values))
        self.key, self.values = key, values


class TooManyWorkspaces(WorkspaceError):
    """A client address asked for new workspaces faster than the installation allows."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        minutes = max(1, round(retry_seconds / 60))
        self.key, self.values = "workspace.too_many", {"minutes": minutes}
        super().__init__(ENGLISH[self.key].format(**self.values))


class DiskFull(WorkspaceError):
    """A write would pass the workspace's share (`scope` "workspace") or the installation's budget ("installation")
    and no room could be made. `used` and `limit` are bytes; the message says what to do."""

    def __init__(self, key: str, *, scope: str, used: int, limit: int, **values: object) -> None:
        super().__init__(ENGLISH[key].format(**values))
        self.key, self.values = key, values
        self.scope, self.used, self.limit = scope, used, limit


def new_id() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits: not guessable


def folder_size(folder: Path) -> int:
    """Bytes used under `folder` (hard-linked files counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*"):
        try:
            status = path.lstat()
        except OSError:
            continue
        if not path.is_file() or path.is_symlink() or (status.st_dev, status.st_ino) in seen:
            continue
        seen.add((status.st_dev, status.st_ino))
        total += status.st_size
    return total


def copy_checkpoint(source: Path, target: Path, card: str | None = None) -> Path:
    """Copy a checkpoint folder's explorable part (config, weights, sample grid) to `target`, without the
    optimiser state. Weights are hard-linked when possible: the engine never rewrites a weights file (each
    save writes a new step-stamped one), so a link is as safe as a copy and costs no space."""
    config = read_config(source)
    if target.exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        weights = str(config["weights"])
        try:
            os.link(source / weights, partial / weights)
        except OSError:
            shutil.copy2(source / weights, partial / weights)
        if (source / "samples.png").is_file():  # read without following a link, as every model file is
            write_file_atomic(partial / "samples.png",
                              read_model_file(source / "samples.png", max_bytes=16 * 2**20, what="sample grid"))
        config["training_state"] = None
        write_file_atomic(partial / CONFIG_FILE_NAME, (json.dumps(config, indent=2) + "\n").encode())
        if card:
            write_file_atomic(partial / "README.md", card.encode())
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True)
class Workspace:
    """One browser's workspace: `id` names its folder, `token` (id + signature) is what the browser holds."""

    root: Path
    id: str
    token: str = field(repr=False)  # a secret: kept out of logs and tracebacks

    @property
    def folder(self) -> Path:
        return self.root / self.id

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    @property
    def models(self) -> Path:
        return self.folder / "models"

    def touch(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.utime(self.folder)

    def new_run(self) -> Path:
        self.touch()
        run = self.runs / (time.strftime("run-%Y%m%d-%H%M%S-") + secrets.token_hex(2))
        run.mkdir(parents=True)
        return run

    def run_folders(self) -> list[Path]:
        """This workspace's runs, newest first."""
        if not self.runs.is_dir():
            return []
        return sorted((path for path in self.runs.iterdir() if path.is_dir()), key=lambda p: p.name, reverse=True)

    def model_folders(self) -> list[Path]:
        if not self.models.is_dir():
            return []
        return sorted(path for path in self.models.iterdir()
                      if path.is_dir() and not path.name.endswith(".partial") and (path / CONFIG_FILE_NAME).is_file())

    def model_path(self, name: str) -> Path:
        name = (name or "").strip()
        if not NAME_PATTERN.match(name):
            raise WorkspaceRefusal("workspace.name_invalid", name=repr(name))
        return self.models / name

    def save_model(self, checkpoint: Path, name: str, card: str | None = None) -> Path:
        target = self.model_path(name)
        if target.exists():
            raise WorkspaceRefusal("workspace.name_taken", name=repr(name))
        self.touch()
        return copy_checkpoint(checkpoint, target, card)

    def delete_model(self, name: str) -> None:
        target = self.model_path(name)
        if not target.is_dir():
            raise WorkspaceRefusal("workspace.no_such_model", name=repr(name))
        shutil.rmtree(target)

    def used_bytes(self) -> int:
        return folder_size(self.folder) if self.folder.is_dir() else 0

    @property
    def evicted(self) -> bool:
        """Whether this workspace's work was removed to make room and its owner has not been told yet."""
        return (self.folder / EVICTED_FILE_NAME).is_file()

    def take_eviction_notice(self) -> bool:
        """True once after this workspace's work was evicted (then the notice is gone): the page shows the owner
        ENGLISH/CHINESE["limits.evicted"] of genimg/store/limits.py on their next visit."""
        try:
            (self.folder / EVICTED_FILE_NAME).unlink()
        except FileNotFoundError:
            return False
        except OSError:
            return self.evicted
        return True

    def owns(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            return False
        return True


class IssueLimiter:
    """A token bucket per client address: `burst` new workspaces at once, then `per_hour` (thread-safe).

    Buckets that have filled up again are forgotten once more than `max_addresses` are tracked, so a flood
    of addresses cannot grow it without bound; `clock` is injectable for tests."""

    def __init__(self, burst: int, per_hour: float, clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = MAX_TRACKED_ADDRESSES) -> None:
        if burst < 1 or not per_hour > 0:
            raise ValueError(f"a workspace issue limit needs burst >= 1 and a rate > 0 per hour, got burst={burst!r}, "
                             f"per_hour={per_hour!r}")
        self.burst = burst
        self.per_second = per_hour / 3600.0
        self.clock = clock
        self.max_addresses = max_addresses
        self._buckets: dict[str, tuple[float, float]] = {}  # address → (tokens left, when last counted)
        self._lock = threading.Lock()

    def take(self, address: str) -> float:
        """Spend one issue for `address`: 0.0 if allowed, else the seconds until one is available again."""
        with self._lock:
            now = self.clock()
            left = self._left(address, now)
            if left < 1.0:
                self._buckets[address] = (left, now)
                return (1.0 - left) / self.per_second
            self._buckets[address] = (left - 1.0, now)
            if len(self._buckets) > self.max_addresses:
                self._forget_full(now)
            return 0.0

    @property
    def tracked_addresses(self) -> int:
        """How many addresses the limiter remembers now."""
        with self._lock:
            return len(self._buckets)

    def _left(self, address: str, now: float) -> float:
        tokens, then = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) * self.per_second)

    def _forget_full(self, now: float) -> None:
        for address in [address for address in self._buckets if self._left(address, now) >= self.burst]:
            del self._buckets[address]
        while len(self._buckets) > self.max_addresses:  # all still limited: the longest-idle go first
            del self._buckets[min(self._buckets, key=lambda address: self._buckets[address][1])]


def _environment_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None


class Workspaces:
    """The folder holding every workspace, with the secret that signs their tokens, the quota, the
    time-to-live and the limit on new workspaces per client address.

    The secret is, in order: `secret` given here, the GENIMG_SECRET environment variable, or the file
    <root>/.secret (made on first use, 0600). Keep that file (or the variable) to keep tokens valid across
    restarts; changing it invalidates every token (each browser then gets a new, empty workspace)."""

    def __init__(self, root: str | os.PathLike | None = None, quota_bytes: int | None = None,
                 ttl_hours: float | None = None, *, secret: str | bytes | None = None,
                 issue_burst: int | None = None, issue_per_hour: float | None = None,
                 clock: Callable[[], float] = time.monotonic, budget_bytes: int | None = None) -> None:
        self.root = Path(root or os.environ.get("GENIMG_WORKSPACES") or DEFAULT_ROOT).resolve()
        self.budget_bytes = budget_bytes if budget_bytes is not None else disk_budget_bytes()
        megabytes = environment_number("GENIMG_QUOTA_MB", DEFAULT_QUOTA_MB, low=0)
        # A workspace's share never exceeds the whole budget.
        self.quota_bytes = min(quota_bytes if quota_bytes is not None else int(megabytes * 2**20), self.budget_bytes)
        self._room_lock = threading.Lock()
        self.ttl_seconds = 3600.0 * (ttl_hours if ttl_hours is not None
                                     else float(os.environ.get("GENIMG_WORKSPACE_TTL_HOURS", DEFAULT_TTL_HOURS)))
        given = secret if secret is not None else os.environ.get(SECRET_ENVIRONMENT) or None
        self._secret: bytes | None = None if given is None else _checked_secret(
            given, "the secret given" if secret is not None else SECRET_ENVIRONMENT)
        self._secret_lock = threading.Lock()
        burst = issue_burst if issue_burst is not None else _environment_number("GENIMG_WORKSPACE_BURST",
                                                                                 DEFAULT_ISSUE_BURST)
        rate = issue_per_hour if issue_per_hour is not None else _environment_number("GENIMG_WORKSPACES_PER_HOUR",
                                                                                     DEFAULT_ISSUE_PER_HOUR)
        self.limiter = IssueLimiter(int(burst), float(rate), clock)

    # -- the secret and the tokens it signs
    @property
    def secret_path(self) -> Path:
        return self.root / SECRET_FILE_NAME

    def _key(self) -> bytes:
        with self._secret_lock:
            if self._secret is None:
                self._secret = _load_or_create_secret(self.secret_path)
            return self._secret

    def _signature(self, workspace_id: str) -> str:
        digest = hmac.new(self._key(), b"genimg-workspace:" + workspace_id.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, client: str | None = None) -> Workspace:
        """A new workspace and its signed token, for a browser that has none (the folder is made on first use).
        Refused with TooManyWorkspaces when `client` (an address) asked for too many lately."""
        wait = self.limiter.take(client or "unknown")
        if wait:
            raise TooManyWorkspaces(wait)
        workspace_id = new_id()
        return Workspace(self.root, workspace_id, f"{workspace_id}.{self._signature(workspace_id)}")

    def get(self, token: str | None) -> Workspace:
        """The workspace for a browser's token. A malformed token (it could name a path) or one whose signature
        does not verify (forged, or signed with another secret) is refused, and nothing is created for it."""
        match = TOKEN_PATTERN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            raise WorkspaceRefusal("workspace.no_token")
        workspace_id, signature = match.groups()
        if not hmac.compare_digest(signature, self._signature(workspace_id)):
            raise WorkspaceRefusal("workspace.foreign_token")
        workspace = Workspace(self.root, workspace_id, token)
        with contextlib.suppress(OSError):  # a visit counts as use: the longest unused are evicted first
            os.utime(workspace.folder)
        return workspace

    def browser_key(self) -> str:
        """A key for the browser-side store that keeps the token (Gradio's BrowserState encrypts with it): the
        same for every process of this installation, so a restart can still read what browsers stored, and
        derived one way from the secret, so sending it to browsers reveals nothing that signs tokens."""
        return hmac.new(self._key(), b"genimg-browser-state", hashlib.sha256).hexdigest()[:32]

    def check_quota(self, workspace: Workspace, keep: tuple[Path, ...] = (), needed_bytes: int = 0) -> None:
        """Make room for `needed_bytes` more in `workspace` (before a run starts, a model is saved, or a run writes
        a checkpoint), or raise DiskFull.

        Within the workspace's share, its oldest runs are deleted first (never saved models, never a run in
        `keep`). Within the installation's budget, the workspaces unused the longest are evicted whole, except
        this one, those holding a run in `keep` and those a training worker is writing (Workspaces.writing);
        each leaves a notice for its owner. With `needed_bytes` 0 it refuses a workspace already at its share."""
        kept = {path.resolve() for path in keep}
        with self._room_lock, self._budget_lock():
            used = workspace.used_bytes()
            for run in reversed(workspace.run_folders()):  # oldest first: runs are scratch, saved models are kept
                if used + max(needed_bytes, 1) <= self.quota_bytes:
                    break
                if run.resolve() in kept:
                    continue
                shutil.rmtree(run, ignore_errors=True)
                used = workspace.used_bytes()
            if used + max(needed_bytes, 1) > self.quota_bytes:
                raise DiskFull("workspace.share_full_step" if needed_bytes else "workspace.share_full",
                               scope="workspace", used=used, limit=self.quota_bytes, used_mb=_megabytes(used),
                               quota=_megabytes(self.quota_bytes))
            self._make_room(workspace, needed_bytes, kept)

    def _make_room(self, workspace: Workspace, needed_bytes: int, kept: set[Path]) -> None:
        """Evict the workspaces unused the longest until `needed_bytes` more fit in the budget (lock held)."""
        total = self.total_bytes()
        if total + needed_bytes <= self.budget_bytes:
            return
        protected = {workspace.id} | {_workspace_id(path, self.root) for path in kept}
        candidates = [(_last_used(folder), folder) for folder in self._workspace_folders()
                      if folder.name not in protected and _holds_work(folder)]
        for _, folder in sorted(candidates, key=lambda item: item[0]):  # the longest unused first
            if total + needed_bytes <= self.budget_bytes:
                break
            if self._evict(folder):
                total = self.total_bytes()
        if total + needed_bytes > self.budget_bytes:
            raise DiskFull("workspace.budget_full", scope="installation", used=total, limit=self.budget_bytes,
                           budget=_megabytes(self.budget_bytes))

    def _evict(self, folder: Path) -> bool:
        """Remove a workspace's work and leave the notice for its owner, unless a worker writes it; whether done."""
        with _workspace_lock(folder, exclusive=True) as locked:
            if not locked:
                return False
            freed = folder_size(folder)
            for child in folder.iterdir():
                if child.name == LOCK_FILE_NAME:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
            notice = {"evicted_at": round(time.time()), "freed_bytes": freed, "budget_bytes": self.budget_bytes}
            write_file_atomic(folder / EVICTED_FILE_NAME, (json.dumps(notice) + "\n").encode())
        return True

    def total_bytes(self) -> int:
        """Bytes all workspaces keep together (what the budget bounds)."""
        return folder_size(self.root) if self.root.is_dir() else 0

    def _workspace_folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [folder for folder in self.root.iterdir()
                if folder.is_dir() and not folder.is_symlink() and ID_PATTERN.fullmatch(folder.name)]

    @contextlib.contextmanager
    def _budget_lock(self) -> Iterator[None]:
        """One process at a time makes room (the page and its training workers share the workspaces)."""
        if fcntl is None:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.root / BUDGET_LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                             0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    @contextlib.contextmanager
    def writing(self, workspace: Workspace) -> Iterator[None]:
        """Hold `workspace` busy while a run writes it: making room for others never evicts it meanwhile
        (a shared lock on <id>/.lock, released when the block ends or the process dies)."""
        workspace.touch()
        with _workspace_lock(workspace.folder, exclusive=False):
            yield

    def job_limits(self) -> dict[str, int]:
        """The share and budget a training worker enforces while it writes (Job(..., **workspaces.job_limits())):
        without them it reads the same environment variables, which a test's own numbers would not match."""
        return {"quota_bytes": self.quota_bytes, "budget_bytes": self.budget_bytes}

    def disk_guard(self, workspace: Workspace, run: Path) -> Callable[[int], str | None]:
        """For the training engine (train(disk_guard=...)): given the bytes a checkpoint is about to write,
        make room for them and return None, or return why the run must stop (then nothing is written)."""

        def guard(needed_bytes: int) -> str | None:
            try:
                self.check_quota(workspace, keep=(run,), needed_bytes=needed_bytes)
            except DiskFull as error:
                return f"{STOPPED_FOR_DISK}: {error}" if error.scope == "workspace" else (
                    f"{STOPPED_FOR_BUDGET}: {error}")
            return None

        return guard

    def is_inside(self, path: str | Path) -> bool:
        """Whether `path` is a folder inside some workspace (for the Explore tabs' whitelist)."""
        try:
            relative = Path(path).resolve().relative_to(self.root)
        except (ValueError, OSError):
            return False
        return len(relative.parts) >= 3 and bool(ID_PATTERN.fullmatch(relative.parts[0]))

    def clean(self, keep: set[str] = frozenset()) -> list[str]:
        """Delete workspaces untouched for longer than the time-to-live (except the ids in `keep`); their ids."""
        removed = []
        if not self.root.is_dir():
            return removed
        cutoff = time.time() - self.ttl_seconds
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name in keep or not ID_PATTERN.fullmatch(folder.name):
                continue
            try:
                newest = max([folder.stat().st_mtime] + [path.stat().st_mtime for path in folder.rglob("*")])
            except OSError:
                continue
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed


def _megabytes(byte_count: int) -> str:
    """Bytes as MB for a message: one decimal, none when whole ("0.8", "300")."""
    text = f"{byte_count / 2**20:,.1f}"
    return text.removesuffix(".0")


def workspace_of_run(run: str | os.PathLike) -> tuple[Path, str] | None:
    """(workspaces root, workspace id) when `run` is a run folder <root>/<id>/runs/<run id>, else None."""
    path = Path(run).resolve()
    if path.parent.name != "runs" or not ID_PATTERN.fullmatch(path.parent.parent.name):
        return None
    return path.parent.parent.parent, path.parent.parent.name


def _last_used(folder: Path) -> float:
    """When a workspace was last used: its folder, its runs and models folders and each run's folder (written
    at every checkpoint) by modification time; a visit touches the folder (Workspaces.get)."""
    times = []
    for path in (folder, folder / "runs", folder / "models"):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    with contextlib.suppress(OSError):
        times.extend(run.stat().st_mtime for run in (folder / "runs").iterdir())
    return max(times, default=0.0)


def _holds_work(folder: Path) -> bool:
    """Whether a workspace folder holds anything besides its lock and eviction notice."""
    try:
        return any(child.name not in (LOCK_FILE_NAME, EVICTED_FILE_NAME) for child in folder.iterdir())
    except OSError:
        return False


def _workspace_id(path: Path, root: Path) -> str | None:
    """The id of the workspace a path lies in, or None."""
    try:
        relative = path.resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    return relative.parts[0] if relative.parts else None


@contextlib.contextmanager
def _workspace_lock(folder: Path, *, exclusive: bool) -> Iterator[bool]:
    """A workspace's advisory lock: shared while a worker writes it (blocks until held), exclusive while it is
    evicted (never waits: yields False if a writer holds it). Yields whether it is held."""
    if fcntl is None:
        yield True
        return
    try:
        descriptor = os.open(folder / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        yield not exclusive
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def latest_checkpoint(run: Path) -> Path | None:
    """The run folder itself if it holds a readable checkpoint."""
    try:
        read_config(run)
    except CheckpointError:
        return None
    return run


def _checked_secret(secret: str | bytes, source: str) -> bytes:
    data = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(data.strip()) < MIN_SECRET_CHARACTERS:
        raise ValueError(f"{source} is too short to sign workspace tokens: it has {len(data.strip())} characters, at "
                         f"least {MIN_SECRET_CHARACTERS} are needed (python -c 'import secrets; "
                         "print(secrets.token_hex(32))' makes one)")
    return data.strip()


def _load_or_create_secret(path: Path) -> bytes:
    """The installation's secret from `path`, made first if there is none: 32 random bytes as hex, written to a
    private temporary file and linked into place, so two processes starting at once agree on one secret and
    nobody reads a half-written one. Never follows a link; permissions wider than 0600 are narrowed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() and not path.is_symlink():
        temporary = path.with_name(f"{path.name}-{secrets.token_hex(4)}.partial")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32) + "\n")
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)  # never replaces a secret another process made meanwhile
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise WorkspaceError(f"the workspace secret {path.name} in the workspaces folder cannot be read "
                             f"({error.strerror}); remove it to have a new one made") from None
    with os.fdopen(descriptor, "rb") as file:
        if os.fstat(file.fileno()).st_mode & 0o077:
            os.fchmod(file.fileno(), 0o600)
        data = file.read(4096)
    try:
        return _checked_secret(data, f"the workspace secret {path.name} in the workspaces folder")
    except ValueError as error:
        raise WorkspaceError(f"{error}; remove it to have a new one made (every browser then gets a new workspace)"
                             ) from None
