"""The one settings reader: a given value (an option, an argument) wins, else the
``SELFDISCOVER_*`` variable, else the default; a malformed variable is an error naming it,
and one that a given value replaces is never read."""

from __future__ import annotations

from dataclasses import fields

import pytest

from selfdiscover._settings import PREFIX, Settings, read, verbosity


def test_defaults_without_variables() -> None:
    assert read({}) == Settings()


def test_a_given_value_wins_over_its_variable() -> None:
    env = {"SELFDISCOVER_TIMEOUT": "3", "SELFDISCOVER_PREFIX": "APP_", "SELFDISCOVER_TAGS": "1"}
    got = read(env, timeout=7.5, tags=False)
    assert (got.timeout, got.tags, got.prefix) == (7.5, False, "APP_")


def test_a_replaced_variable_is_never_read() -> None:
    env = {"SELFDISCOVER_TIMEOUT": "soon", "SELFDISCOVER_TAGS": "maybe"}
    assert read(env, timeout=2.0, tags=True).timeout == 2.0
    with pytest.raises(ValueError, match="SELFDISCOVER_TIMEOUT"):
        read(env, tags=True)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("TIMEOUT", " 2.5 ", 2.5),
        ("SOURCES", " tmde-v4, ,agent-url ", ("tmde-v4", "agent-url")),
        ("SOURCES", " , ", None),
        ("ENV_FILE", "json:/a.json, shell:/b.sh ,", ("json:/a.json", "shell:/b.sh")),
        ("RETRIES", "off", False),
        ("TAGS", " Yes ", True),
        ("SET_CPU_COUNT", "TRUE", True),
        ("OVERRIDE", "0", False),
        ("POLICY", "required", "required"),  # a choice the shim checks, not the reader
        ("PREFIX", "APP_", "APP_"),
    ],
)
def test_each_kind_of_variable(name: str, text: str, value: object) -> None:
    assert getattr(read({PREFIX + name: text}), name.lower()) == value


@pytest.mark.parametrize(
    ("name", "text"),
    [("TIMEOUT", "soon"), ("TIMEOUT", "0"), ("TIMEOUT", "nan"), ("TAGS", "ture"), ("RETRIES", "2")],
)
def test_a_malformed_variable_is_an_error_naming_it(name: str, text: str) -> None:
    with pytest.raises(ValueError, match=PREFIX + name):
        read({PREFIX + name: text})


def test_an_empty_variable_is_unset() -> None:
    assert read({"SELFDISCOVER_TIMEOUT": " ", "SELFDISCOVER_TAGS": ""}) == Settings()


def test_every_setting_has_its_variable() -> None:
    """Derived from the dataclass: setting each variable alone changes its field."""
    samples: dict[type, str] = {bool: "1", str: "x", float: "1.5"}
    want: object
    for f in fields(Settings):
        if f.name == "verbosity":
            continue
        kind = next((t for t in samples if str(f.type).startswith(t.__name__)), None)
        if f.name in ("sources", "env_file"):
            text, want = "a,b", ("a", "b")
        else:
            assert kind is not None, f.name
            text, want = samples[kind], {bool: True, str: "x", float: 1.5}[kind]
            if f.default is True:
                text, want = "0", False
        assert getattr(read({PREFIX + f.name.upper(): text}), f.name) == want, f.name


def test_verbosity_quiet_wins_and_is_checked() -> None:
    assert verbosity({}) == 0
    assert verbosity({"SELFDISCOVER_VERBOSE": "1"}) == 1
    assert verbosity({"SELFDISCOVER_QUIET": "1", "SELFDISCOVER_VERBOSE": "1"}) == -1
    with pytest.raises(ValueError, match="SELFDISCOVER_QUIET"):
        verbosity({"SELFDISCOVER_QUIET": "loud"})


def test_an_unknown_setting_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        read({}, colour="blue")
