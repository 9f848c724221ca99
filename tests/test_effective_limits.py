"""``effective_limits()`` and what the shim does with it: the kernel's limits and the ECS task's,
combined; ``ECS_CPU_LIMIT``/``ECS_CPU_COUNT``/``ECS_MEMORY_LIMIT``; ``--set-cpu-count``.

Fake ``/proc`` and cgroup trees are built under ``tmp_path`` (``test_limits.tree``); the shim runs as
the installed console script against the fake agent over a real socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from shimrun import PY, dump_cmd, dumped, sd
from test_limits import CID, V2, tree, v2_mount

import selfdiscover
from selfdiscover import TaskInfo
from selfdiscover._limits import kernel_limits
from selfdiscover.testing import FakeAgent, FakeContainer, random_docker_id

MIB = 1024 * 1024
LEAF = f"/system.slice/docker-{CID}.scope"
ARN = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef"


def unlimited(tmp_path: Path) -> tuple[str, str]:
    """A cgroup v2 container with no quota and no memory limit anywhere."""
    files: dict[str, str | bytes] = {f"{V2}{LEAF}/cpu.max": "max 100000\n", f"{V2}{LEAF}/memory.max": "max\n"}
    return tree(tmp_path, f"0::{LEAF}\n", v2_mount(), files)


def info(**limits: int | None) -> TaskInfo:
    return TaskInfo(arn=ARN, family="web", version="7", **limits)  # type: ignore[arg-type]


def test_the_task_limit_the_container_cannot_see_is_the_answer(tmp_path: Path) -> None:
    proc, sys_root = unlimited(tmp_path)
    got = selfdiscover.effective_limits(
        info(task_cpu=512, task_memory=2048, container_memory=512), proc_root=proc, sys_root=sys_root
    )
    assert (got.cpu, got.cpu_count, got.memory) == (0.5, 1, 512 * MIB)
    assert got.cpu_source == "task Limits.CPU (task metadata)"
    assert got.memory_source == "container Limits.Memory (task metadata)"


def test_a_lower_kernel_limit_wins_and_names_its_file(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"{V2}{LEAF}/cpu.max": "25000 100000\n",
        f"{V2}{LEAF}/memory.max": str(256 * MIB),
    }
    proc, sys_root = tree(tmp_path, f"0::{LEAF}\n", v2_mount(), files)
    got = selfdiscover.effective_limits(
        info(task_cpu=2048, task_memory=1024), proc_root=proc, sys_root=sys_root
    )
    assert (got.cpu, got.cpu_count, got.memory) == (0.25, 1, 256 * MIB)
    assert got.cpu_source is not None and got.cpu_source.endswith(f"{LEAF}/cpu.max")
    assert got.memory_source is not None and got.memory_source.endswith(f"{LEAF}/memory.max")


def test_no_limit_anywhere_is_none_and_the_affinity(tmp_path: Path) -> None:
    proc, sys_root = unlimited(tmp_path)
    got = selfdiscover.effective_limits(info(), environ={}, proc_root=proc, sys_root=sys_root)
    assert (got.cpu, got.memory) == (None, None)
    assert got.cpu_count == kernel_limits(proc, sys_root).affinity == len(os.sched_getaffinity(0))


def test_without_a_taskinfo_the_exported_variables_count(tmp_path: Path) -> None:
    proc, sys_root = unlimited(tmp_path)
    env = {"APP_TASK_CPU": "1536", "APP_TASK_MEMORY": "4096", "APP_CONTAINER_MEMORY": "1024"}
    got = selfdiscover.effective_limits(environ=env, prefix="APP_", proc_root=proc, sys_root=sys_root)
    # Only the task-wide figures: in the init-container pattern the file's CONTAINER_MEMORY is the init
    # container's, and a container's own memory limit is on its own cgroup, which it always sees.
    assert (got.cpu, got.memory) == (1.5, 4096 * MIB)
    assert got.cpu_count == min(2, len(os.sched_getaffinity(0)))
    assert (got.cpu_source, got.memory_source) == ("$APP_TASK_CPU", "$APP_TASK_MEMORY")


@pytest.mark.parametrize("value", ["-512", "0", "abc", "1e3", "512\n0", "٥١٢", " ", "9" * 40])
def test_a_hostile_exported_figure_is_unknown(tmp_path: Path, value: str) -> None:
    proc, sys_root = unlimited(tmp_path)
    env = {"ECS_TASK_CPU": value, "ECS_TASK_MEMORY": value}
    got = selfdiscover.effective_limits(environ=env, proc_root=proc, sys_root=sys_root)
    assert (got.cpu, got.memory) == (None, None)


def test_nothing_readable_is_no_limit_and_no_exception(tmp_path: Path) -> None:
    got = selfdiscover.effective_limits(environ={}, proc_root=str(tmp_path / "none"))
    assert (got.cpu, got.memory) == (None, None) and got.cpu_count >= 1
    assert got.notes  # says what could not be read


# --- the shim ------------------------------------------------------------------------------------------


def shim_env(
    agent: FakeAgent, clean_env: dict[str, str], cpu: float | None = 0.5, memory: int | None = 1024
) -> dict[str, str]:
    docker_id = random_docker_id()
    me = FakeContainer("app", docker_id)
    agent.add_task("web", 7, [me], cpu=cpu, memory=memory)
    # TMDE v4 carries the task's Limits; the introspection API does not.
    return dict(
        clean_env,
        ECS_CONTAINER_METADATA_URI_V4=agent.metadata_uri(me),
        SELFDISCOVER_DOCKER_ID=docker_id,
        SELFDISCOVER_SOURCES="tmde-v4",
        SELFDISCOVER_TIMEOUT="5",
    )


DUMP_KNOBS = (
    "import json, os; print(json.dumps({k: os.environ.get(k) for k in ('PYTHON_CPU_COUNT', 'GOMAXPROCS')}))"
)


def test_exec_exports_the_limits(shim: list[str], agent: FakeAgent, clean_env: dict[str, str]) -> None:
    env = shim_env(agent, clean_env, cpu=0.5, memory=1024)
    got = dumped(sd(shim, ["exec", "--no-env-file", "--", *dump_cmd()], env))["env"]
    kernel = kernel_limits().cpu  # this machine's, as the child sees it: a lower one would win
    assert got["ECS_CPU_LIMIT"] == f"{min(0.5, kernel or 0.5):g}" and got["ECS_CPU_COUNT"] == "1"
    assert 0 < int(got["ECS_MEMORY_LIMIT"]) <= 1024
    assert "PYTHON_CPU_COUNT" not in got  # only with --set-cpu-count


def test_no_task_cpu_limit_means_no_cpu_limit_variable(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path
) -> None:
    env = shim_env(agent, clean_env, cpu=None, memory=None)
    got = dumped(sd(shim, ["exec", "--no-env-file", "--", *dump_cmd()], env))["env"]
    mine = selfdiscover.effective_limits(environ={})  # this machine's kernel, as the child sees it
    assert ("ECS_CPU_LIMIT" in got) == (mine.cpu is not None)
    assert got["ECS_CPU_COUNT"] == str(mine.cpu_count)


@pytest.mark.parametrize("how", [["--set-cpu-count"], []])
def test_set_cpu_count_sets_python_and_go_knobs(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str], tmp_path: Path, how: list[str]
) -> None:
    env = shim_env(agent, clean_env, cpu=0.5)
    if not how:
        env["SELFDISCOVER_SET_CPU_COUNT"] = "1"
    path = tmp_path / "ecs.sh"
    got = dumped(sd(shim, ["exec", *how, "--env-file", f"shell:{path}", "--", PY, "-c", DUMP_KNOBS], env))
    assert got == {"PYTHON_CPU_COUNT": "1", "GOMAXPROCS": "1"}
    text = path.read_text(encoding="utf-8")
    assert "PYTHON_CPU_COUNT='1'" in text and "GOMAXPROCS='1'" in text


def test_the_operators_knobs_win(shim: list[str], agent: FakeAgent, clean_env: dict[str, str]) -> None:
    env = {**shim_env(agent, clean_env, cpu=0.5), "PYTHON_CPU_COUNT": "3", "GOMAXPROCS": "4"}
    got = dumped(sd(shim, ["exec", "--set-cpu-count", "--no-env-file", "--", PY, "-c", DUMP_KNOBS], env))
    assert got == {"PYTHON_CPU_COUNT": "3", "GOMAXPROCS": "4"}


def test_set_cpu_count_acts_outside_ecs(shim: list[str], clean_env: dict[str, str]) -> None:
    env = dict(clean_env, SELFDISCOVER_TIMEOUT="0.5")
    got = dumped(sd(shim, ["exec", "--set-cpu-count", "--no-env-file", "--", PY, "-c", DUMP_KNOBS], env))
    count = str(selfdiscover.effective_limits(environ={}).cpu_count)
    assert got == {"PYTHON_CPU_COUNT": count, "GOMAXPROCS": count}


def python313() -> str:
    """A CPython 3.13 found on this machine (pyenv's versions, then PATH); CI installs none and
    must not skip, so a missing one fails."""
    pyenv = sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob("3.13*/bin/python3.13"))
    for candidate in [*map(str, pyenv), shutil.which("python3.13")]:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.stdout.strip() == "True":
            return candidate
    pytest.fail("no CPython 3.13 on this machine: the --set-cpu-count test needs one")


def test_python_313_under_set_cpu_count_counts_the_task_cpus(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str]
) -> None:
    env = shim_env(agent, clean_env, cpu=0.5)
    env.pop("PYTHONPATH", None)
    code = "import os, multiprocessing as m; print(os.cpu_count(), os.process_cpu_count(), m.cpu_count())"
    proc = sd(shim, ["exec", "--set-cpu-count", "--no-env-file", "--", python313(), "-c", code], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1", "1"]
    # ... where the same interpreter without it counts the host's CPUs.
    plain = sd(shim, ["exec", "--no-env-file", "--", python313(), "-c", code], env)
    assert plain.stdout.split()[0] == str(os.cpu_count())


def _doctor(agent: FakeAgent, tmp_path: Path, me: FakeContainer) -> str:
    import io

    from selfdiscover._doctor import run_doctor
    from selfdiscover._settings import Settings

    proc, sys_root = unlimited(tmp_path)  # no quota, no memory limit anywhere
    env = {"ECS_CONTAINER_METADATA_URI_V4": agent.metadata_uri(me)}
    out = io.StringIO()
    settings = Settings(timeout=5, sources=("tmde-v4",))
    rc = run_doctor(out, settings, environ=env, proc_root=proc, sys_root=sys_root)
    assert rc == 0, out.getvalue()
    return out.getvalue()


def test_doctor_names_the_task_limit_the_container_cannot_see(agent: FakeAgent, tmp_path: Path) -> None:
    me = FakeContainer("app", random_docker_id())
    agent.add_task("web", 7, [me], cpu=0.5, memory=1024)
    text = _doctor(agent, tmp_path, me)
    assert "  CPU limit: 0.5 vCPU, from task Limits.CPU (task metadata)\n" in text
    assert "  CPU count: 1 (" in text
    assert "this container cannot see" in text
    assert "  memory limit: 1024 MiB, from task Limits.Memory (task metadata)\n" in text


def test_doctor_says_container_cpu_is_shares_not_a_limit(agent: FakeAgent, tmp_path: Path) -> None:
    me = FakeContainer("app", random_docker_id(), cpu=256, memory=300)  # a hard container memory limit
    agent.add_task("web", 7, [me], cpu=None, memory=None)
    text = _doctor(agent, tmp_path, me)
    assert "  CPU limit: none" in text
    assert "cpu (256 units) is CPU shares" in text
    assert "  memory limit: 300 MiB, from container Limits.Memory (task metadata)\n" in text


def test_a_task_cpu_of_zero_is_omitted_as_the_agent_does(agent: FakeAgent) -> None:
    import json
    import urllib.request

    me = FakeContainer("app", random_docker_id(), memory=300)
    agent.add_task("web", 7, [me], cpu=0, memory=0)
    with urllib.request.urlopen(agent.metadata_uri(me) + "/task", timeout=5) as r:
        task = json.load(r)
    assert "Limits" not in task  # both 0: the agent omits the object
    (container,) = task["Containers"]
    assert container["Limits"] == {"CPU": 2, "Memory": 300}  # container CPU: units, at least 2


def test_exec_with_a_hard_container_memory_and_no_task_cpu(
    shim: list[str], agent: FakeAgent, clean_env: dict[str, str]
) -> None:
    docker_id = random_docker_id()
    me = FakeContainer("app", docker_id, memory=300)
    agent.add_task("web", 7, [me], cpu=None, memory=None)
    env = dict(
        clean_env,
        ECS_CONTAINER_METADATA_URI_V4=agent.metadata_uri(me),
        SELFDISCOVER_DOCKER_ID=docker_id,
        SELFDISCOVER_SOURCES="tmde-v4",
        SELFDISCOVER_TIMEOUT="5",
    )
    got = dumped(sd(shim, ["exec", "--no-env-file", "--", *dump_cmd()], env))["env"]
    assert got["ECS_CONTAINER_MEMORY"] == "300"
    assert int(got["ECS_MEMORY_LIMIT"]) <= 300
    assert "ECS_TASK_CPU" not in got
