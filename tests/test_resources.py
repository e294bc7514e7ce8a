"""What the machine gives a run: available memory and CPU quota from made-up /proc and cgroup
trees (v2 and v1), and the one memory-budget decision on where the training inputs live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dnncli.compute import resources
from dnncli.config import load_config
from dnncli.data.columns import ScaledColumns
from dnncli.compute.resources import (
    AS_STORED,
    GIB,
    IN_FILE,
    IN_MEMORY,
    MB,
    available_memory,
    cpu_quota,
    memory_budget_bytes,
    place_training_inputs,
)
from tests.conftest import make_images, write_h5

# the cat set repeated ten times: 2090 examples of 64x64x3 uint8, 205 MB as float64
CAT_X10 = {"m": 2090, "n_x": 12288, "stored_itemsize": 1, "float_itemsize": 8}


def fake_machine(root: Path, *, available_kb: int, cgroup: str, files: dict[str, str]) -> Path:
    """``root/proc`` and ``root/sys/fs/cgroup`` as a kernel shows them to a process in ``/job/run``."""
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal:       25000000 kB\nMemAvailable:   {available_kb} kB\n")
    if cgroup == "v2":
        (root / "proc" / "self" / "cgroup").write_text("0::/job/run\n")
        mounts = "35 25 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    else:
        (root / "proc" / "self" / "cgroup").write_text("5:cpu,cpuacct:/job/run\n4:memory:/job/run\n0::/\n")
        mounts = ("33 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                  "35 25 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    (root / "proc" / "self" / "mountinfo").write_text("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + mounts)
    for name, text in files.items():
        path = root / "sys" / "fs" / "cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cgroup_v2_limit_is_what_is_available(tmp_path: Path) -> None:
    root = fake_machine(tmp_path, available_kb=20_000_000, cgroup="v2", files={
        # the job's group: 4 GB, 2.2 GB used of which 0.2 GB is cache the kernel can drop
        "job/memory.max": f"{4 * GIB}\n", "job/memory.current": f"{int(2.2 * GIB)}\n",
        "job/memory.stat": f"anon 100\ninactive_file {int(0.2 * GIB)}\n",
        "job/run/memory.max": "max\n", "job/run/memory.current": "1000\n",
        "job/cpu.max": "max 100000\n", "job/run/cpu.max": "150000 100000\n",
    })
    assert available_memory(root) == pytest.approx(2 * GIB, rel=1e-6)
    assert resources.cgroup_memory(root)[0] == 4 * GIB
    assert cpu_quota(root) == 1.5
    assert resources.cores_from_quota(cpu_quota(root), 8) == 1


def test_a_cgroup_v1_limit_and_meminfo(tmp_path: Path) -> None:
    root = fake_machine(tmp_path, available_kb=1_000_000, cgroup="v1", files={
        "memory/job/run/memory.limit_in_bytes": "9223372036854771712\n",  # no limit of its own
        "memory/job/run/memory.usage_in_bytes": "500\n",
        "memory/job/memory.limit_in_bytes": f"{3 * GIB}\n",
        "memory/job/memory.usage_in_bytes": f"{GIB}\n",
        "memory/job/memory.stat": "total_inactive_file 0\n",
        "cpu,cpuacct/job/run/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/job/run/cpu.cfs_period_us": "100000\n",
        "cpu,cpuacct/job/cpu.cfs_quota_us": "200000\n", "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
    })
    # the group leaves 2 GiB, but MemAvailable says less: the least of the two
    assert available_memory(root) == 1_000_000 * 1024
    assert cpu_quota(root) == 2.0
    # nothing known at all: no limit, no quota
    assert cpu_quota(tmp_path / "nowhere") is None and available_memory(tmp_path / "nowhere") is None


def test_the_default_budget_keeps_a_205_mb_set_in_memory_with_2_gb_available() -> None:
    budget = memory_budget_bytes("auto", available=2 * GIB)
    assert budget == 1073 * MB  # half of 2 GiB, in whole MB
    placement = place_training_inputs(**CAT_X10, budget=budget)
    assert placement.float_bytes == 205_455_360 and placement.where == IN_MEMORY
    # where the budget says so, the same set is kept as stored (uint8), or left in the file
    assert place_training_inputs(**CAT_X10, budget=memory_budget_bytes(100)).where == AS_STORED
    assert place_training_inputs(**CAT_X10, budget=memory_budget_bytes(20)).where == IN_FILE
    # little memory left: auto streams it too
    assert place_training_inputs(**CAT_X10, budget=memory_budget_bytes("auto", available=300 * MB)).where == AS_STORED


@pytest.mark.parametrize("available_mb, kept_as", [(2048, np.ndarray), (3, ScaledColumns)])
def test_a_run_places_its_inputs_by_the_budget_and_a_resumed_one_as_it_started(
    tmp_path, monkeypatch, available_mb, kept_as
) -> None:
    from dnncli.run.checkpoint import RunSection, load_checkpoint, save_checkpoint
    from dnncli.run.prepare import prepare
    from dnncli.training.state import TrainState

    X, y = make_images(100, seed=2, shape=(32, 32, 3))  # 2.5 MB as float64, 0.3 MB as stored
    train = write_h5(tmp_path / "train.h5", train_set_x=X, train_set_y=y)
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{train: {train}}}\nmodel: {{hidden: [3]}}\ntraining: {{iterations: 1}}\n")
    monkeypatch.setattr(resources, "available_memory", lambda root=resources.ROOT: available_mb * MB)
    prepared = prepare(load_config(config))
    assert isinstance(prepared.data.X, kept_as)
    assert prepared.memory_budget == available_mb // 2 * MB and prepared.config.data.memory_budget_mb == "auto"
    # the checkpoint keeps the budget; resuming with it places the inputs as the run started,
    # whatever memory is available then
    state = TrainState(initial_cost=0.7, last_good_cost=0.7)
    save_checkpoint(tmp_path / "c.h5", prepared.network.params, {"name": "gd", "learning_rate": 0.1},
                    np.random.default_rng(0).bit_generator.state, state, RunSection("0" * 64, ".", prepared.memory_budget))
    kept = load_checkpoint(tmp_path / "c.h5").run.memory_budget
    monkeypatch.setattr(resources, "available_memory", lambda root=resources.ROOT: (2050 - available_mb) * MB)
    assert isinstance(prepare(load_config(config), memory_budget=kept).data.X, kept_as)
    assert not isinstance(prepare(load_config(config)).data.X, kept_as)  # without it: the other way


def test_a_scoring_pass_goes_a_block_at_a_time_only_when_its_activations_exceed_the_budget(tmp_path) -> None:
    """Inputs that fit the budget may still make a scoring pass (every layer's Z and A over every
    example) that does not: a narrow table's rows through wide layers. That pass then goes a block
    of examples at a time (TrainData.score_block); the published runs, far within, keep one pass."""
    from dnncli.run.prepare import prepare

    assert resources.score_block([14, 64, 64, 1], 16_512, 8, 4 * 1024**3) is None  # housing: 68 MB of 4 GB
    assert resources.score_block([14, 64, 64, 1], 5_000_000, 8, 4 * 1024**3) == resources.SCORE_BLOCK  # 20 GB
    X, y = make_images(300, seed=2, shape=(2,))
    train = write_h5(tmp_path / "train.h5", train_set_x=X, train_set_y=y)
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{train: {train}}}\nmodel: {{hidden: [256]}}\ntraining: {{iterations: 1}}\n")
    # 300 examples of 2 values: 5 kB of inputs, a 2.5 MB pass
    blocked = prepare(load_config(config), memory_budget=MB)
    assert isinstance(blocked.data.X, np.ndarray) and blocked.data.score_block == resources.SCORE_BLOCK
    assert prepare(load_config(config), memory_budget=100 * MB).data.score_block is None
    # a test set is scored by its own size: 100 examples, an 0.8 MB pass
    test = write_h5(tmp_path / "test.h5", test_set_x=X[:100], test_set_y=y[:100])
    config.write_text(config.read_text().replace("data: {", f"data: {{test: {test}, "))
    both = prepare(load_config(config), memory_budget=MB)
    assert both.data.score_block == resources.SCORE_BLOCK and both.data.test.score_block is None
