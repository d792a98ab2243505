"""The process group of a torchrun run: joined once, taken down before the interpreter's own teardown (a gloo group
left to the C++ destructors at exit aborted a finished sweep: "terminate called without an active exception")."""

import pytest

from utils import toy

PROBE = r'''
import atexit
import torch.distributed as dist
from module.distributed import gather, join

# exit hooks run last-registered first: this one runs after everything join() registered
atexit.register(lambda: print(f"group left: {not dist.is_initialized()}\n", end="", flush=True))
rank, size = join()
print(f"ranks: {gather(rank)}\n", end="", flush=True)
'''


@pytest.mark.slow
def test_the_process_group_is_destroyed_before_the_processes_exit(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    done = toy.torchrun(str(probe), timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("ranks: [0, 1]") == 2, done.stdout
    assert done.stdout.count("group left: True") == 2, done.stdout
    assert "terminate called" not in done.stderr
