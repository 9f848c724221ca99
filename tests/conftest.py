"""The suite's fixtures and hooks live in suite.py, a plugin this file loads: mypy
cannot check two modules named ``conftest`` in one run (tests/docker has its own)."""

pytest_plugins = ["suite"]
