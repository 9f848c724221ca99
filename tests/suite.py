"""Fixtures and hooks for the whole suite (loaded by tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from otelnode import read_js  # noqa: F401 (a fixture for the whole suite)
from rawserver import RawServer, scripted
from shimrun import Setup, in_ecs_env, outside_ecs_env, setup_task

import selfdiscover.testing.pytest_plugin as shipped_plugin
from selfdiscover.testing import Behaviour, FakeAgent

# Derandomized everywhere (the README's "fixed seed"): every run tries the same examples,
# and no example database is written into the checkout.
settings.register_profile(
    "selfdiscover",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("selfdiscover")


def pytest_configure(config: pytest.Config) -> None:
    """The suite uses the plugin users get (``fake_agent``): load it unless its entry point did."""
    if not config.pluginmanager.is_registered(shipped_plugin):
        config.pluginmanager.register(shipped_plugin, "selfdiscover")


@pytest.fixture
def agent(fake_agent: FakeAgent) -> FakeAgent:
    """The suite's fake agent is the shipped ``fake_agent`` fixture itself."""
    return fake_agent


# Hermetic: the default env-file locations point into a directory of the suite's
# own, for this process and for every subprocess given clean_env, so no test reads
# or writes the machine's /run/selfdiscover or $TMPDIR/selfdiscover
# (tests/test_hermetic.py plants leftovers there to prove it).
_HERMETIC_ROOT = tempfile.mkdtemp(prefix="selfdiscover-suite-")
HERMETIC_ENV = {
    "SELFDISCOVER_RUN_DIR": os.path.join(_HERMETIC_ROOT, "run", "selfdiscover"),
    "TMPDIR": os.path.join(_HERMETIC_ROOT, "tmp"),
}
os.makedirs(HERMETIC_ENV["TMPDIR"])
os.environ.update(HERMETIC_ENV)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HERMETIC_ROOT, ignore_errors=True)


def _scrubbed_env() -> dict[str, str]:
    """The environment for subprocess tests: nothing ECS- or selfdiscover-related
    leaks in from the machine running the suite, and the default locations stay
    redirected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECS_", "SELFDISCOVER_", "AWS_"))}
    return {**env, **HERMETIC_ENV}


@pytest.fixture
def clean_env() -> dict[str, str]:
    return _scrubbed_env()


# --- in ECS, and outside it (plain helpers in shimrun.py) -----------------------------


@pytest.fixture
def ecs(agent: FakeAgent, clean_env: dict[str, str]) -> Setup:
    """A task web:7 with container app on ``agent``, and discovery pointed at it."""
    return setup_task(agent, clean_env)


@pytest.fixture
def down_agent() -> Iterator[FakeAgent]:
    """A port that is bound but never listens: every connect is refused."""
    with FakeAgent(behaviour=Behaviour(down_for=120)) as a:
        yield a


@pytest.fixture
def in_ecs_down(clean_env: dict[str, str], down_agent: FakeAgent) -> dict[str, str]:
    """Clearly ECS (the v4 endpoint variable is set), but nothing answers."""
    return in_ecs_env(clean_env, down_agent.url)


@pytest.fixture
def outside(clean_env: dict[str, str]) -> dict[str, str]:
    """No ECS variable and no agent URL: a laptop or CI."""
    return outside_ecs_env(clean_env)


@pytest.fixture(scope="session")
def shim() -> list[str]:
    """The installed console script (the README's install step puts it on PATH)."""
    exe = shutil.which("selfdiscover")
    if exe is None:
        pytest.fail("the selfdiscover console script is not installed: run pip install -e .[test]")
    return [exe]


@pytest.fixture
def raw_server() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server that answers every connection with the scripted pieces
    (``rawserver.scripted``: bytes, ``<SLEEPs>``, ``<RESET>``)."""
    script: list[bytes] = []
    with RawServer(scripted(script)) as srv:
        yield srv.url, script
