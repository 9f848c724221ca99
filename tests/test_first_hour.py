"""The first hour of a new user: the README's fake-agent loop runs as printed,
the agent commands and doctor say plainly when this is not ECS, and a
malformed container ID is named as such."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from namespaces import unshare_missing
from shimrun import sd

from selfdiscover import discover
from selfdiscover._doctor import run_doctor
from selfdiscover._outputs._shim import EX_NOTECS, EX_UNAVAILABLE, EX_USAGE
from selfdiscover.testing import FakeAgent, random_docker_id

README = Path(__file__).resolve().parents[1] / "README.md"
README_PORT = "51679"


def readme_loop() -> str:
    """The shell block of the README's fake-agent section."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The fake agent") :]
    match = re.search(r"```sh\n(ID=.*?)```", section, re.S)
    assert match, "the fake-agent section lost its shell example"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_the_readme_fake_agent_loop_runs_as_printed(clean_env: dict[str, str], tmp_path: Path) -> None:
    loop = readme_loop()
    for step in ("selfdiscover fake-agent", "SELFDISCOVER_AGENT_URL", "SELFDISCOVER_DOCKER_ID"):
        assert step in loop
    for command in ("selfdiscover agent tasks", "selfdiscover show", "selfdiscover exec"):
        assert re.search(rf"^{command}", loop, re.M), command
    assert loop.count(README_PORT) == 2
    script = "set -eu\n" + loop.replace(README_PORT, str(free_port()))
    p = subprocess.run(
        ["bash", "-c", script], env=clean_env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.rstrip().endswith("I am web:7 (app)")
    assert '"Family": "web"' in p.stdout and '"Name": "app"' in p.stdout  # agent tasks
    assert "ECS_TASK_DEFINITION=web:7\n" in p.stdout  # show
    assert "ECS_TASK_FAMILY=web\n" in (tmp_path / "ecs.env").read_text()
    assert p.stderr == ""


# --- the agent commands outside ECS ----------------------------------------------------


OWN_NETNS_MISSING = unshare_missing("--net", "true", needs="make a network namespace")


@pytest.mark.skipif(OWN_NETNS_MISSING is not None, reason=OWN_NETNS_MISSING or "")
@pytest.mark.parametrize("call", [["metadata"], ["tasks"], ["tasks", "--dockerid", "0123456789ab"]])
def test_agent_outside_ecs_tries_once_and_says_what_to_do(
    shim: list[str], clean_env: dict[str, str], call: list[str]
) -> None:
    """Nothing listens on localhost:51678 in a network namespace of our own (only
    its loopback is up), and nothing says ECS: one try, not the whole deadline."""
    wrapper = ["unshare", "--net", "sh", "-c", 'ip link set lo up 2>/dev/null || true; exec "$@"', "sh"]
    t0 = time.monotonic()
    p = sd([*wrapper, *shim], ["agent", *call], clean_env)
    took = time.monotonic() - t0
    assert p.returncode == EX_UNAVAILABLE
    assert p.stdout == ""
    (line,) = p.stderr.splitlines()
    assert "(after 1 attempt)" in line  # not "after 63 attempts"
    assert "nothing here says ECS" in line and "selfdiscover fake-agent" in line
    assert "SELFDISCOVER_AGENT_URL" in line
    assert took < 8, took  # the default deadline is 10 s; one try is a fraction of that


def test_agent_with_a_url_given_keeps_trying_until_its_deadline(
    shim: list[str], clean_env: dict[str, str]
) -> None:
    """An agent URL is evidence of ECS: the operator said an agent is there."""
    with FakeAgent() as a:
        url = a.url  # closed on leaving: nothing listens on that port any more
    env = {**clean_env, "SELFDISCOVER_AGENT_URL": url, "SELFDISCOVER_TIMEOUT": "0.5"}
    p = sd(shim, ["agent", "metadata"], env)
    assert p.returncode == EX_UNAVAILABLE
    attempts = re.search(r"after (\d+) attempts", p.stderr)
    assert attempts and int(attempts.group(1)) > 1, p.stderr
    assert "fake-agent" not in p.stderr


# --- doctor --------------------------------------------------------------------------


def test_doctor_outside_ecs_says_so_and_that_nothing_is_broken(tmp_path: Path) -> None:
    out = io.StringIO()
    rc = run_doctor(out, agent_url=None, timeout=1, docker_id=None, environ={}, proc_root=str(tmp_path))
    text = out.getvalue()
    assert rc == EX_NOTECS
    assert "evidence of ECS: none\n" in text
    assert "result: not ECS" in text and "nothing is broken" in text
    assert "FAILED" not in text


def test_doctor_counts_a_given_agent_url_as_evidence(tmp_path: Path) -> None:
    with FakeAgent() as a:
        did = random_docker_id()
        a.add_container_task(did, "web", 7, "app")
        out = io.StringIO()
        rc = run_doctor(out, agent_url=a.url, timeout=2, docker_id=did, environ={}, proc_root=str(tmp_path))
    text = out.getvalue()
    assert rc == 0, text
    assert f"evidence of ECS: an agent URL was given ({a.url})\n" in text
    assert "result: OK" in text


def test_the_readme_definition_of_in_ecs_names_the_agent_url() -> None:
    text = README.read_text(encoding="utf-8")
    definition = text[text.index('"In ECS" means any of') :].split("\n\n", 1)[0]
    assert "agent URL given explicitly" in definition


# --- a container ID that is set but malformed -----------------------------------------

SHORT_ID = "0123456789ab"  # 12 characters: what `docker ps` shows, not what the agent needs


@pytest.mark.parametrize("command", [["show"], ["exec", "--", "true"], ["doctor"]])
def test_an_invalid_docker_id_variable_is_named_as_invalid(
    shim: list[str], clean_env: dict[str, str], command: list[str], tmp_path: Path
) -> None:
    env = {**clean_env, "SELFDISCOVER_DOCKER_ID": SHORT_ID, "SELFDISCOVER_AGENT_URL": "http://127.0.0.1:9"}
    p = sd(shim, command, env)
    assert p.returncode == EX_USAGE, p.stderr + p.stdout
    said = p.stderr + p.stdout
    assert f"SELFDISCOVER_DOCKER_ID='{SHORT_ID}' is not a valid container ID" in said
    assert "not found" not in said
    assert len(said.strip().splitlines()) == 1


def test_an_invalid_docker_id_option_is_named_as_invalid(shim: list[str], clean_env: dict[str, str]) -> None:
    p = sd(
        shim, ["show", "--docker-id", SHORT_ID], {**clean_env, "SELFDISCOVER_AGENT_URL": "http://127.0.0.1:9"}
    )
    assert p.returncode == EX_USAGE
    assert p.stderr == (
        f"selfdiscover: error: --docker-id='{SHORT_ID}' is not a valid container ID: expected the full "
        "64-hex-digit Docker ID (a 12-character short ID is not enough), a Fargate <32 hex>-<digits> ID "
        "or a Garden ID\n"
    )


def test_discover_names_an_invalid_docker_id_variable(tmp_path: Path) -> None:
    env = {"SELFDISCOVER_DOCKER_ID": SHORT_ID, "SELFDISCOVER_AGENT_URL": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match="SELFDISCOVER_DOCKER_ID='0123456789ab' is not a valid container ID"):
        discover(environ=env, proc_root=str(tmp_path), timeout=1)


def test_a_valid_docker_id_variable_still_works(shim: list[str], clean_env: dict[str, str]) -> None:
    with FakeAgent() as a:
        did = random_docker_id()
        a.add_container_task(did, "web", 7, "app")
        env = {**clean_env, "SELFDISCOVER_DOCKER_ID": did.upper(), "SELFDISCOVER_AGENT_URL": a.url}
        p = sd(shim, ["show"], env)
    assert p.returncode == 0, p.stderr
    assert f"ECS_CONTAINER_ID={did}\n" in p.stdout


def test_the_readme_says_to_use_a_venv_before_ci_run_when_not_root() -> None:
    text = README.read_text(encoding="utf-8")
    first_screen = text[: text.index("## Contents")]
    advice = first_screen[first_screen.index("    bash .ci/run") :]
    assert "not root" in advice and ". .venv/bin/activate && bash .ci/run" in advice
