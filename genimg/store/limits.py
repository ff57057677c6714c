"""What one installation lets its visitors use: disk budget, upload size, Gradio's cache clean-up, the training queue.

Every number comes from an environment variable with a default sized for a free Hugging Face Space (2 CPU
cores, 16 GB of memory, 50 GB of disk that is wiped on restart), so a public page cannot be filled by one
visitor. The page passes `launch_options()` to `demo.launch()` and `cache_policy()` to `gr.Blocks()`; the
workspaces (genimg/store/workspace.py) read the disk budget, the uploads reader (genimg/data/uploads.py)
the upload cap, the training worker (genimg/training/worker.py) the queue's length.

The messages a visitor may see because of a limit are here in English and Chinese (ENGLISH, CHINESE), for
the page to register with genimg.ui.i18n.register.
"""

from __future__ import annotations

import math
import os

# The budget for everything visitors keep (every workspace's runs and saved models together). A full DCGAN
# run of the Train tab keeps about 50 MB (a 9 MB resumable checkpoint plus 20 replay steps of 2 MB), so
# 2 GiB holds a class of 30 each keeping a full run with room to spare, and stays under 5 % of a free
# Space's 50 GB disk, which also holds the image, the pip cache and Gradio's temporary files.
DEFAULT_DISK_BUDGET_MB = 2048
DISK_BUDGET_ENVIRONMENT = "GENIMG_DISK_BUDGET_MB"
# The largest file a visitor may upload: a .zip of a few thousand small pictures, or one picture, fits easily.
DEFAULT_UPLOAD_MB = 20
UPLOAD_ENVIRONMENT = "GENIMG_UPLOAD_MB"
# Gradio keeps every uploaded file and every picture or animation it sent in its cache; these are removed
# once older than an hour (a page open longer shows a broken picture only for results it had not refreshed).
DEFAULT_CACHE_MINUTES = 60
CACHE_ENVIRONMENT = "GENIMG_CACHE_MINUTES"
CACHE_CHECKS_PER_AGE = 6  # how often within that age Gradio looks for old files (every 10 min by default)
# Training runs waiting for a slot, all visitors together.
DEFAULT_QUEUE_LENGTH = 8
QUEUE_ENVIRONMENT = "GENIMG_QUEUE_LENGTH"
# Training jobs waiting or running per client address: one, so that one visitor cannot fill the line. A class
# behind one school address shares that one place; its teacher's own installation can raise it.
DEFAULT_JOBS_PER_ADDRESS = 1
JOBS_PER_ADDRESS_ENVIRONMENT = "GENIMG_JOBS_PER_ADDRESS"


def environment_number(name: str, default: float, *, low: float, integer: bool = False) -> float:
    """The number in environment variable `name`, or `default` when unset or blank; a ValueError names the
    variable, its value and what is accepted (a number >= low, whole when `integer`)."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    accepted = f"a {'whole ' if integer else ''}number of at least {low:g}"
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number; expected {accepted}") from None
    if not math.isfinite(value) or value < low or (integer and not value.is_integer()):
        raise ValueError(f"{name}={text!r} is not accepted; expected {accepted}")
    return value


def disk_budget_bytes() -> int:
    """Bytes all workspaces together may keep (GENIMG_DISK_BUDGET_MB, default 2048)."""
    return int(environment_number(DISK_BUDGET_ENVIRONMENT, DEFAULT_DISK_BUDGET_MB, low=0.01) * 2**20)


def upload_limit_bytes() -> int:
    """The largest upload accepted, in bytes (GENIMG_UPLOAD_MB, default 20)."""
    return int(environment_number(UPLOAD_ENVIRONMENT, DEFAULT_UPLOAD_MB, low=0.001) * 2**20)


def queue_length() -> int:
    """Training runs that may wait for a slot, all visitors together (GENIMG_QUEUE_LENGTH, default 8)."""
    return int(environment_number(QUEUE_ENVIRONMENT, DEFAULT_QUEUE_LENGTH, low=1, integer=True))


def jobs_per_address() -> int:
    """Training jobs one client address may have waiting or running (GENIMG_JOBS_PER_ADDRESS, default 1)."""
    return int(environment_number(JOBS_PER_ADDRESS_ENVIRONMENT, DEFAULT_JOBS_PER_ADDRESS, low=1, integer=True))


def launch_options() -> dict[str, int]:
    """Keyword arguments for `demo.launch()`: Gradio refuses a larger upload while it streams in (HTTP 413)
    and deletes what it had received, before any handler sees it."""
    return {"max_file_size": upload_limit_bytes()}


def cache_policy() -> tuple[int, int]:
    """`gr.Blocks(delete_cache=...)`: (how often to look, in seconds; the age in seconds past which Gradio
    deletes an uploaded or generated file of this page). GENIMG_CACHE_MINUTES sets the age (default 60)."""
    age = max(1, round(environment_number(CACHE_ENVIRONMENT, DEFAULT_CACHE_MINUTES, low=0.01) * 60))
    return max(1, age // CACHE_CHECKS_PER_AGE), age


def minutes_text(seconds: float) -> int:
    """A wait in whole minutes for a message, at least 1."""
    return max(1, math.ceil(seconds / 60))


# Messages for the page, by i18n key; {budget} and {quota} are in MB, {minutes} whole minutes, {size} as written.
ENGLISH = {
    "limits.evicted": "Your saved work was removed to make room for newer work: this server keeps {budget} MB for "
                      "all visitors together, and your workspace had gone unused the longest. Start a new run to "
                      "train again.",
    "limits.disk_full": "Stopped: your workspace reached its {quota} MB share of the disk. The last checkpoint is "
                        "kept; delete a saved model (Your models) to train further.",
    "limits.budget_full": "Stopped: the server's disk for all visitors ({budget} MB) is full with work in use right "
                          "now. The last checkpoint is kept; try again later.",
    "limits.upload_too_large": "The file is {size}, larger than the {limit} MB this server accepts; upload a smaller "
                               "one.",
    "limits.queue_full": "The training queue is full; try again in about {minutes} min.",
    "limits.one_job": "You already have a run training or waiting; stop it before starting another.",
    "limits.abandoned": "Cancelled: this page stopped following the run, so it gave up its place.",
    # The workspace's refusals (WorkspaceError.key); {name} is quoted as written.
    "workspace.no_token": "this page has no valid workspace yet; reload the page",
    "workspace.foreign_token": "this page's workspace key was not issued by this server (or the server's secret has "
                               "changed); reload the page to get a new workspace",
    "workspace.too_many": "too many new workspaces were opened from your address; try again in about {minutes} min "
                          "(or use the browser where you opened one before: it keeps its workspace)",
    "workspace.name_invalid": "the name {name} is not accepted: use 1–40 letters, digits, spaces, '-', '_' or '.', "
                              "starting with a letter or digit",
    "workspace.name_taken": "you already have a model named {name}; choose another name or delete that one",
    "workspace.no_such_model": "there is no model named {name} in your workspace",
    "workspace.share_full": "your workspace uses {used_mb} MB of its {quota} MB in saved models; delete a saved model "
                            "(Your models, below) before training more",
    "workspace.share_full_step": "your workspace uses {used_mb} MB of its {quota} MB with what this step would write; "
                                 "delete a saved model (Your models, below) before training more",
    "workspace.budget_full": "the server's disk for all visitors ({budget} MB) is full with work in use right now; try "
                             "again later",
    "workspace.nothing_to_resume": "there is no saved run to resume yet: press Start first",
    "workspace.no_training_state": "this run's checkpoint holds no training state, so it cannot be resumed",
    "workspace.nothing_to_save": "there is no checkpoint to save yet: start a run and let it reach its first checkpoint",
    "workspace.nothing_to_open": "nothing to open yet: start a run",
    "workspace.no_step_checkpoint": "no checkpoint was saved at or before step {step}; the first is saved after a few "
                                    "seconds of training",
}
CHINESE = {
    "limits.evicted": "为给更新的作品腾出空间，你保存的作品已被删除：本服务器为所有访客共保留 {budget} MB，而你的工作区"
                      "闲置时间最长。开始新的训练即可再次训练。",
    "limits.disk_full": "已停止：你的工作区已用满 {quota} MB 的磁盘份额。最后一个检查点已保留；删除一个已保存的模型"
                        "（你的模型）即可继续训练。",
    "limits.budget_full": "已停止：服务器为所有访客保留的磁盘（{budget} MB）已被正在使用的作品占满。最后一个检查点已保留；"
                          "请稍后再试。",
    "limits.upload_too_large": "该文件大小为 {size}，超过本服务器接受的 {limit} MB；请上传更小的文件。",
    "limits.queue_full": "训练队列已满；请约 {minutes} 分钟后再试。",
    "limits.one_job": "你已有一个训练正在运行或排队；请先停止它，再开始新的训练。",
    "limits.abandoned": "已取消：此页面不再跟踪这次训练，因此它让出了位置。",
    "workspace.no_token": "此页面还没有有效的工作区；请重新加载页面",
    "workspace.foreign_token": "此页面的工作区密钥不是本服务器签发的（或服务器的密钥已更换）；请重新加载页面，获得新的工作区",
    "workspace.too_many": "你的网络地址最近打开的新工作区太多；请约 {minutes} 分钟后再试（或使用之前打开过本页的浏览器：它会保留自己的工作区）",
    "workspace.name_invalid": "名称 {name} 不可用：请用 1–40 个字母、数字、空格、“-”、“_”或“.”，并以字母或数字开头",
    "workspace.name_taken": "你已经有一个名为 {name} 的模型；请换一个名称，或先删除那个模型",
    "workspace.no_such_model": "你的工作区里没有名为 {name} 的模型",
    "workspace.share_full": "你的工作区已用 {used_mb} MB（份额 {quota} MB），都是已保存的模型；请先删除一个已保存的模型（下方“你的模型”），"
                            "再继续训练",
    "workspace.share_full_step": "你的工作区已用 {used_mb} MB（份额 {quota} MB），放不下这一步要写入的内容；请先删除一个已保存的模型"
                                 "（下方“你的模型”），再继续训练",
    "workspace.budget_full": "服务器为所有访客保留的磁盘（{budget} MB）已被正在使用的作品占满；请稍后再试",
    "workspace.nothing_to_resume": "还没有可以继续的训练：请先点 开始",
    "workspace.no_training_state": "这次训练的检查点不含训练状态，因此无法继续",
    "workspace.nothing_to_save": "还没有可保存的检查点：请开始训练，等它保存第一个检查点",
    "workspace.nothing_to_open": "还没有可打开的内容：请先开始训练",
    "workspace.no_step_checkpoint": "第 {step} 步及之前没有保存检查点；训练开始几秒后会保存第一个",
}
