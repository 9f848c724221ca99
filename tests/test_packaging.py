"""What a user installing selfdiscover can check: the licence, the metadata,
the extras, the sdist (whose tests run from the unpacked tree) and a pytest
plugin that costs nothing where it is not used."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from shimrun import python

ROOT = Path(__file__).resolve().parents[1]


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def listed(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def test_license_file_matches_the_metadata() -> None:
    cfg = setup_cfg()
    assert cfg["metadata"]["license"] == "MIT"
    assert cfg["metadata"]["license_files"] == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text
    assert "License :: OSI Approved :: MIT License" in listed(cfg["metadata"]["classifiers"])


def test_classifiers_name_the_versions_checked_and_python_requires_agrees() -> None:
    cfg = setup_cfg()
    classifiers = listed(cfg["metadata"]["classifiers"])
    assert "Typing :: Typed" in classifiers and (ROOT / "selfdiscover" / "py.typed").is_file()
    assert "Framework :: Pytest" in classifiers
    versions = sorted(
        (int(m.group(1)), int(m.group(2)))
        for c in classifiers
        if (m := re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c))
    )
    floor = re.fullmatch(r">=(\d+)\.(\d+)", cfg["options"]["python_requires"])
    assert floor, cfg["options"]["python_requires"]
    mypy = re.search(r'^python_version = "(\d+)\.(\d+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert mypy
    checked = (int(mypy.group(1)), int(mypy.group(2)))
    assert checked == (int(floor.group(1)), int(floor.group(2)))  # type-checked as the oldest allowed
    assert versions[0] == checked
    assert sys.version_info[:2] in versions  # the interpreter running this suite
    # And CI runs the suite on exactly these (.ci/run: CLAIMED=(3.10 3.11 ...)).
    ci = re.search(r"^CLAIMED=\(([\d. ]+)\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.M)
    assert ci, "no CLAIMED=(...) in .ci/run"
    assert sorted(tuple(map(int, v.split("."))) for v in ci.group(1).split()) == versions


def test_development_tools_have_their_own_extra() -> None:
    extras = setup_cfg()["options.extras_require"]
    tools = {"mypy", "ruff", "types-psutil"}
    names = {k: {re.split(r"[<>=\[ ]", r)[0] for r in listed(extras[k])} for k in extras}
    assert tools <= names["dev"]
    assert not tools & names["test"]
    assert {"pytest", "hypothesis", "python-dotenv"} <= names["test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "-e '.[test,dev]'" in ci


# --- the sdist ----------------------------------------------------------------------

_NOT_SOURCE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", "build", "dist", ".venv", ".*_cache", "*.pyc"
)


def build_sdist(src: Path, dist: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Build the sdist as a PEP 517 frontend does without isolation (pip, ``python -m build
    --no-isolation``): call the backend pyproject.toml names, in a fresh interpreter in the
    tree. Not ``setup.py sdist``; not an isolated build, which would download the backend.
    The backend comes from the ``test`` extra: a 3.12+ virtualenv carries no setuptools."""
    backend = re.search(r'^build-backend = "([\w.]+)"$', (src / "pyproject.toml").read_text(), re.M)
    assert backend, "pyproject.toml names no build-backend"
    code = (
        "import importlib, sys\n"
        "backend = importlib.import_module(sys.argv[1])\n"
        "print(backend.build_sdist(sys.argv[2]))\n"
    )
    dist.mkdir()
    return subprocess.run(
        [sys.executable, "-c", code, backend.group(1), str(dist)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_sdist_carries_the_tests_and_they_run_from_the_unpacked_tree(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=_NOT_SOURCE, symlinks=True)
    build = build_sdist(src, tmp_path / "dist", clean_env)
    assert build.returncode == 0, build.stderr
    (sdist,) = (tmp_path / "dist").glob("selfdiscover-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        tar.extractall(tmp_path / "unpacked", filter="data")
    for needed in (
        "LICENSE",
        "tests/conftest.py",
        "tests/test_identity.py",
        "tests/data/container-id-vectors.json",
        "tests/docker/dockerkit.py",
        "examples/logging/text_logging.py",
        "entrypoint/selfdiscover-entrypoint.sh",
        ".ci/run",
        "selfdiscover/py.typed",
    ):
        assert needed in names, needed
    assert not any("__pycache__" in n for n in names)
    (tree,) = (tmp_path / "unpacked").iterdir()
    env = {**clean_env, "PYTHONPATH": str(tree)}  # the package from the unpacked tree, not the checkout
    where = subprocess.run(
        [sys.executable, "-c", "import selfdiscover; print(selfdiscover.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.strip() == str(tree / "selfdiscover" / "__init__.py")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_identity.py"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\d+ passed", run.stdout) and "failed" not in run.stdout


# --- the pytest plugin ----------------------------------------------------------------


def test_the_plugin_imports_nothing_heavy(clean_env: dict[str, str]) -> None:
    """pytest imports it at every start wherever selfdiscover is installed."""
    code = (
        "import sys, selfdiscover.testing.pytest_plugin\n"
        "heavy = ('selfdiscover.testing._fake_agent', 'http.server', 'urllib3', 'socketserver')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    assert python(code, clean_env).strip() == "[]"


PLUGIN_USER = """
from selfdiscover.testing import FakeAgent


def test_uses_the_shipped_fixture(fake_agent: FakeAgent) -> None:
    assert isinstance(fake_agent, FakeAgent) and fake_agent.url.startswith("http://127.0.0.1:")


def test_agent_env(agent_env: FakeAgent) -> None:
    import os
    assert os.environ["SELFDISCOVER_AGENT_URL"] == agent_env.url
"""

OWN_FIXTURE = """
import pytest


@pytest.fixture
def fake_agent() -> str:
    return "mine"
"""


def nested_pytest(where: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plugin_fixtures_work_give_way_and_can_be_left_out(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    (tmp_path / "test_user.py").write_text(PLUGIN_USER)
    shipped = nested_pytest(tmp_path, clean_env)
    assert shipped.returncode == 0, shipped.stdout + shipped.stderr
    assert "2 passed" in shipped.stdout

    mine = tmp_path / "own"
    mine.mkdir()
    (mine / "conftest.py").write_text(OWN_FIXTURE)
    (mine / "test_own.py").write_text(
        "def test_own(fake_agent: str) -> None:\n    assert fake_agent == 'mine'\n"
    )
    own = nested_pytest(mine, clean_env)
    assert own.returncode == 0, own.stdout + own.stderr  # a user's fixture of the same name wins

    left_out = nested_pytest(tmp_path, clean_env, "-p", "no:selfdiscover", "test_user.py")
    assert left_out.returncode != 0
    assert "fixture 'fake_agent' not found" in left_out.stdout


# --- import cost ----------------------------------------------------------------------


def test_import_selfdiscover_loads_nothing_until_a_name_is_used(clean_env: dict[str, str]) -> None:
    """A logging setup or a plugin scan that only imports the package pays for
    two tiny modules; each public name still resolves, to the same object as
    its home module's."""
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import selfdiscover\n"
        "print(sorted(set(sys.modules) - before))\n"
        "import importlib\n"
        "for name in selfdiscover.__all__:\n"
        "    value = getattr(selfdiscover, name)\n"
        "    where = selfdiscover._LAZY.get(name)\n"
        "    home = importlib.import_module(where, 'selfdiscover') if where else selfdiscover\n"
        "    assert getattr(home, name) is value, name\n"
        "print(sorted(selfdiscover.__all__) == dir(selfdiscover))\n"
    )
    out = python(code, {**clean_env, "PYTHONPATH": os.pathsep.join(sys.path)}, flags=("-S",))
    assert out.splitlines() == ["['selfdiscover', 'selfdiscover._version']", "True"]
