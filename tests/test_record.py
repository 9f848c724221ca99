"""``record``: a dataclass to every caller, without ``dataclasses`` at start-up.

Each test builds the same class twice, once with ``@dataclasses.dataclass``
and once with ``@record``, and requires the two to behave alike.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import pprint
from collections.abc import Callable
from typing import Any

import pytest
from shimrun import python

from selfdiscover._record import field, record, record_fields, replace


def _check(a: int) -> None:
    if a < 0:
        raise ValueError("a < 0")


# The same class four times: a dataclass and a record, frozen and mutable; with
# a default, a factory, a field left out of ==, one left out of hash, and a
# __post_init__. The classes live here so that pickle can find them.
@dataclasses.dataclass(frozen=True)
class Std:
    a: int
    b: str = "x"
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", compare=False)
    blob: dict[str, int] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check(self.a)


@record
class Rec:
    a: int
    b: str = "x"
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", compare=False)
    blob: dict[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check(self.a)


@dataclasses.dataclass
class StdMutable:
    a: int
    b: str = "x"
    tags: list[str] = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="", compare=False)
    blob: dict[str, int] = dataclasses.field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check(self.a)


@record(frozen=False)
class RecMutable:
    a: int
    b: str = "x"
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", compare=False)
    blob: dict[str, int] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check(self.a)


def shapes(frozen: bool) -> tuple[type[Any], type[Any]]:
    return (Std, Rec) if frozen else (StdMutable, RecMutable)


def same(text: str, std: type[Any], rec: type[Any]) -> str:
    return text.replace(std.__qualname__, rec.__qualname__)


@pytest.mark.parametrize("frozen", [True, False])
def test_construction_repr_and_equality_match_a_dataclass(frozen: bool) -> None:
    std, rec = shapes(frozen)
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = [
        ((1,), {}),
        ((2, "y"), {"note": "n"}),
        ((), {"a": 3, "tags": ["t"]}),
    ]
    for args, kwargs in calls:
        s, r = std(*args, **kwargs), rec(*args, **kwargs)
        assert repr(r) == same(repr(s), std, rec)
        assert r == rec(*args, **kwargs)
        assert not r != rec(*args, **kwargs)  # noqa: SIM202 - __ne__ is under test too
        assert (r == replace(r, note="other")) is (s == dataclasses.replace(s, note="other")) is True
        assert (r == replace(r, a=99)) is (s == dataclasses.replace(s, a=99)) is False
        assert r.__eq__(s) is NotImplemented  # another class is never equal
    assert str(inspect.signature(rec)) == str(inspect.signature(std))
    assert rec.__match_args__ == std.__match_args__
    assert rec(1).tags is not rec(1).tags, "a factory makes a fresh value for each instance"


@pytest.mark.parametrize("frozen", [True, False])
def test_errors_match_a_dataclass(frozen: bool) -> None:
    std, rec = shapes(frozen)

    def message(make: Callable[[type[Any]], object], cls: type[Any]) -> str:
        with pytest.raises((TypeError, ValueError)) as e:
            make(cls)
        return same(str(e.value), std, rec)

    bad: list[Callable[[type[Any]], object]] = [
        lambda c: c(),
        lambda c: c(1, "x", [], "", {}, 6),
        lambda c: c(1, nope=2),
        lambda c: c(-1),
        lambda c: c(1, "x", [], "", {}, 6, a=1),  # CPython names the keyword first
        lambda c: c(1, "x", [], "", {}, 6, nope=1),
    ]
    for make in bad:
        assert message(make, rec) == message(make, std)


def test_frozen_hash_and_assignment() -> None:
    std, rec = shapes(frozen=True)
    r, s = rec(1, tags=["t"]), std(1, tags=["t"])
    with pytest.raises(TypeError):  # a list field is unhashable, in both
        hash(s)
    with pytest.raises(TypeError):
        hash(r)
    r, s = rec(1, tags=("t",), blob={"k": 1}), std(1, tags=("t",), blob={"k": 1})
    assert hash(r) == hash(rec(1, tags=("t",), blob={"other": 2}, note="n"))
    for obj in (r, s):
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'a'"):
            obj.a = 2
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'a'"):
            del obj.a
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.new = 1
    assert pickle.loads(pickle.dumps(r)) == r


def test_mutable_records_assign_and_are_unhashable() -> None:
    std, rec = shapes(frozen=False)
    r = rec(1)
    r.a = 5
    assert r.a == 5 and r == rec(5)
    with pytest.raises(TypeError, match="unhashable"):
        hash(r)
    with pytest.raises(TypeError, match="unhashable"):
        hash(std(1))


@pytest.mark.parametrize("frozen", [True, False])
def test_dataclasses_functions_see_a_dataclass(frozen: bool) -> None:
    std, rec = shapes(frozen)
    r, s = rec(1, tags=["t"]), std(1, tags=["t"])
    assert all([dataclasses.is_dataclass(rec), dataclasses.is_dataclass(r)])
    assert [(f.name, f.type, f.compare, f.hash) for f in dataclasses.fields(r)] == [
        (f.name, f.type, f.compare, f.hash) for f in dataclasses.fields(s)
    ]
    assert dataclasses.asdict(r) == dataclasses.asdict(s)
    assert dataclasses.astuple(r) == dataclasses.astuple(s)
    changed = dataclasses.replace(r, b="z")
    assert type(changed) is rec and changed.b == "z" and changed.tags == ["t"]
    assert record_fields(r) == record_fields(rec) == tuple(f.name for f in dataclasses.fields(s))


def test_what_reads_dataclass_internals_works() -> None:
    """pprint (for a repr wider than the page), pytest's assertion diffs and a
    ``@dataclass`` subclass read ``__dataclass_params__``; ``copy.replace``
    (3.13) calls ``__replace__``. (pprint wraps only a repr that dataclasses
    wrote, so a record prints on one line.)"""
    _, rec = shapes(frozen=True)
    long = rec(1, "y" * 60, ("t",) * 3)
    assert pprint.pformat(long, width=40) == repr(long)

    @dataclasses.dataclass(frozen=True)
    class Child(Rec):
        extra: str = "e"

    child = Child(2)
    assert (child.a, child.extra, child.tags) == (2, "e", [])
    assert rec(1).__replace__(b="z") == rec(1, "z")


def test_a_class_keeps_what_it_defines_itself() -> None:
    @record
    class Own:
        x: int = 0

        def __repr__(self) -> str:
            return "mine"

    assert repr(Own()) == "mine" and Own(1) == Own(1) != Own(2)


def test_declaration_errors() -> None:
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        record(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)

    @record
    class Base:
        x: int = 0

    with pytest.raises(TypeError, match="cannot inherit"):
        record(type("Child", (Base,), {"__annotations__": {"y": "int"}}))


def test_the_shim_path_never_imports_dataclasses(clean_env: dict[str, str]) -> None:
    """The reason records exist: building TaskInfo, Timeout, Retry and an
    AgentClient, and reading their fields, imports neither ``dataclasses``
    nor ``inspect``; asking ``dataclasses`` about one still works."""
    code = (
        "import sys\n"
        "import selfdiscover as s\n"
        "info = s.TaskInfo('arn', 'fam', '1', labels={'a': 'b'})\n"
        "client = s.AgentClient(url='http://127.0.0.1:9', timeout=s.Timeout(total=3), retry=s.Retry())\n"
        "info.as_dict(); repr(client); hash(info); info == info\n"
        "print(sorted({'dataclasses', 'inspect'} & set(sys.modules)))\n"
        "import dataclasses\n"
        "print(dataclasses.fields(info)[1].name, dataclasses.replace(info, family='x').family)\n"
    )
    assert python(code, clean_env).splitlines() == ["[]", "family x"]
