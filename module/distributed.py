"""The processes of one distributed run (torchrun / accelerate launch set RANK and WORLD_SIZE): joining PyTorch's
process group, the device of this process, and agreeing on results and failures across processes."""

from __future__ import annotations

import atexit
import functools
import os
from collections.abc import Callable

import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes of this run (1 without torchrun / accelerate launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def join() -> tuple[int, int]:
    """(rank, number of processes); under torchrun the process group is started once (gloo on CPU, nccl on GPU)
    and taken down when the process exits."""
    if world_size() == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    leave_at_exit()
    return dist.get_rank(), dist.get_world_size()


@functools.cache  # registered once per process
def leave_at_exit() -> None:
    """Destroy the process group (whoever started it) when the interpreter exits: a gloo group left to the C++
    destructors at shutdown can abort a finished process ("terminate called without an active exception")."""
    atexit.register(_leave)


def _leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def device() -> torch.device:
    """This process's device: its own GPU (LOCAL_RANK) where there are GPUs, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    return torch.device("cpu")


def gather(value) -> list:
    """Every process's `value`, in rank order (a list of one outside a distributed run)."""
    if world_size() == 1 or not dist.is_initialized():
        return [value]
    found: list = [None] * dist.get_world_size()
    dist.all_gather_object(found, value)
    return found


def together(step: Callable[[], object], only_main: bool = False):
    """Run `step` (in the main process only, with `only_main`) so that all processes fail together: an expected
    error in one is raised, with its message, in every process instead of leaving the others waiting."""
    result, error = None, None
    rank = dist.get_rank() if world_size() > 1 and dist.is_initialized() else 0
    if rank == 0 or not only_main:
        try:
            result = step()
        except (ValueError, OSError) as exc:
            error = exc
    errors = gather(None if error is None else (type(error), str(error)))
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        if error is not None:
            raise error
        kind, message = failed
        raise kind(message)
    return result
