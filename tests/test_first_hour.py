"""The first hour of a new user: what the README shows runs as printed (the
fake-agent loop, the virtual environment before ``.ci/run``, each kind of
evidence its definition of "in ECS" names), the agent commands and doctor say
plainly when this is not ECS, and a malformed container ID is named as such."""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from namespaces import unshare_missing
from shimrun import EX_NOTECS, EX_UNAVAILABLE, EX_USAGE, sd

from selfdiscover import DiscoveryError, NotInECSError, discover
from selfdiscover._doctor import run_doctor
from selfdiscover._settings import Settings
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


def test_the_env_file_the_loop_leaves_is_ignored_by_git() -> None:
    """Run in a checkout, the loop leaves ./ecs.env there: git must not offer to commit it."""
    root = README.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    for where in ("ecs.env", "examples/ecs.env"):  # the top of the checkout, or any directory in it
        p = subprocess.run(
            ["git", "-c", f"safe.directory={root}", "-C", str(root), "check-ignore", "--no-index", where],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (p.returncode, p.stdout) == (0, where + "\n"), p.stderr


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
    rc = run_doctor(out, Settings(timeout=1), environ={}, proc_root=str(tmp_path))
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
        settings = Settings(agent_url=a.url, timeout=2)
        rc = run_doctor(out, settings, docker_id=did, environ={}, proc_root=str(tmp_path))
    text = out.getvalue()
    assert rc == 0, text
    assert f"evidence of ECS: an agent URL was given ({a.url})\n" in text
    assert "result: OK" in text


# --- the README's definition of "in ECS", each kind of evidence run ----------------------


def readme_evidence() -> str:
    """The list the README's definition gives: '"In ECS" means any of: ...'."""
    text = README.read_text(encoding="utf-8")
    paragraph = " ".join(text[text.index('"In ECS" means any of:') :].split("\n\n", 1)[0].split())
    return paragraph.split(":", 1)[1].split(". ", 1)[0]


def readme_evidence_variables() -> list[tuple[str, str]]:
    """(name, value) for each variable the definition names: `NAME` set, or `NAME=VALUE*`."""
    named = re.findall(r"`([A-Z][A-Z0-9_]*)(?:=([^`]*))?`", readme_evidence())
    return [(name, value.replace("*", "FARGATE")) for name, value in named]


# Only sources that go where the test says (the down agent, a file in tmp_path): never
# localhost:51678 or the machine's gateway. Evidence or not is the only difference.
ONLY_OUR_SOURCES = {"SELFDISCOVER_SOURCES": "agent-url,tmde-v4,tmde-v3,metadata-file"}


def no_evidence(clean_env: dict[str, str]) -> dict[str, str]:
    return {
        **clean_env,
        **ONLY_OUR_SOURCES,
        "SELFDISCOVER_DOCKER_ID": random_docker_id(),
        "SELFDISCOVER_TIMEOUT": "0.25",
    }


def test_without_the_readmes_evidence_cmd_starts_at_once(
    shim: list[str], clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The definition's other half: "a laptop (no ECS, starts at once without the variables)"."""
    marker = tmp_path / "cmd-ran"
    p = sd(shim, ["exec", "--no-env-file", "--", "touch", str(marker)], no_evidence(clean_env))
    assert (p.returncode, marker.exists()) == (0, True), p.stderr
    (line,) = p.stderr.splitlines()
    assert line.startswith("selfdiscover: not running in ECS")


@pytest.mark.parametrize(("name", "value"), readme_evidence_variables(), ids=lambda v: v or "set")
def test_each_variable_the_readme_names_as_evidence_fails_closed(
    shim: list[str], clean_env: dict[str, str], down_agent: FakeAgent, tmp_path: Path, name: str, value: str
) -> None:
    """`NAME` set (pointing at an agent that is down, or at a file that is not there),
    or `NAME=VALUE`: in ECS, so no answer means exit 69 and CMD never starts."""
    if not value:
        value = str(tmp_path / "metadata.json") if name.endswith("_FILE") else f"{down_agent.url}/v4/x"
    marker = tmp_path / "cmd-ran"
    env = {**no_evidence(clean_env), name: value}
    p = sd(shim, ["exec", "--no-env-file", "--", "touch", str(marker)], env)
    assert (p.returncode, marker.exists()) == (EX_UNAVAILABLE, False), p.stderr
    (line,) = p.stderr.splitlines()
    assert line.startswith("selfdiscover: error: ")


def test_every_item_of_the_readmes_definition_is_run() -> None:
    """Each backquoted item is a variable (run above) or the cgroup file (run below),
    and the parsing above lost none of the variables."""
    items = re.findall(r"`([^`]*)`", readme_evidence())
    variables = [item for item in items if item != "/proc/self/cgroup"]
    assert len(variables) == len(items) - 1
    assert [name for name, _ in readme_evidence_variables()] == [v.split("=")[0] for v in variables]
    assert {"ECS_CONTAINER_METADATA_URI_V4", "AWS_EXECUTION_ENV"} <= {v.split("=")[0] for v in variables}


@pytest.mark.parametrize("how", ["variable", "option"])
def test_an_agent_url_given_explicitly_is_evidence(
    shim: list[str], clean_env: dict[str, str], down_agent: FakeAgent, tmp_path: Path, how: str
) -> None:
    """The definition's last item, given either way the README documents."""
    assert readme_evidence().endswith("or an agent URL given explicitly")
    marker = tmp_path / "cmd-ran"
    env = no_evidence(clean_env)
    if how == "variable":
        env["SELFDISCOVER_AGENT_URL"] = down_agent.url
    option = ["--agent-url", down_agent.url] if how == "option" else []
    p = sd(shim, ["exec", *option, "--no-env-file", "--", "touch", str(marker)], env)
    assert (p.returncode, marker.exists()) == (EX_UNAVAILABLE, False), p.stderr


@pytest.mark.parametrize(
    ("cgroup", "in_ecs"),
    [("0::/ecs/0123456789abcdef0123456789abcdef/{id}\n", True), ("0::/docker/{id}\n", False)],
    ids=["ecs-task-path", "plain-docker"],
)
def test_an_ecs_task_path_in_the_cgroup_file_is_evidence(tmp_path: Path, cgroup: str, in_ecs: bool) -> None:
    """The cgroup item, against a planted /proc (the shim reads the real one)."""
    assert "an ECS task path in `/proc/self/cgroup`" in readme_evidence()
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "cgroup").write_text(cgroup.format(id=random_docker_id()))
    with pytest.raises(DiscoveryError) as caught:
        discover(environ={}, proc_root=str(tmp_path), timeout=0.25, sources=["tmde-v4"])
    assert isinstance(caught.value, NotInECSError) is not in_ecs, caught.value


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


# --- a virtual environment before .ci/run ----------------------------------------------


def test_the_readmes_venv_line_makes_ci_run_use_the_venvs_python(
    clean_env: dict[str, str], tmp_path: Path
) -> None:
    """The README's line for a machine one keeps, run as printed in a directory whose
    .ci/run only reports the ``python3`` first on PATH, the one the real script
    installs into and runs."""
    text = README.read_text(encoding="utf-8")
    first_screen = text[: text.index("## Contents")]
    match = re.search(r"`(python3 -m venv \.venv && [^`]*&& bash \.ci/run)`", first_screen)
    assert match, "the first screen lost its virtual-environment line for .ci/run"
    probe = subprocess.run(
        ["python3", "-c", "import ensurepip, venv"], env=clean_env, capture_output=True, timeout=30
    )
    if probe.returncode != 0:  # Debian without python3-venv: the README line cannot run here
        pytest.skip("this python3 cannot make a virtual environment with pip (no ensurepip)")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text(
        'command -v python3\npython3 -c "import sys; print(sys.prefix != sys.base_prefix, sys.prefix)"\n'
    )
    p = subprocess.run(
        ["bash", "-c", match.group(1)],
        env=clean_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    venv = (tmp_path / ".venv").resolve()
    found, prefix = p.stdout.splitlines()
    assert Path(found).parent.resolve() == venv / "bin"
    in_a_venv, where = prefix.split(" ", 1)
    assert (in_a_venv, Path(where).resolve()) == ("True", venv)
