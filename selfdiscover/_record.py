"""Value classes with a dataclass's manners and almost none of its start-up.

``import dataclasses`` brings ``inspect``, ``ast``, ``dis`` and ``tokenize``
along, each ``@dataclass`` compiles half a dozen methods, and each
``typing.NamedTuple`` compiles every field's annotation: for the classes the
shim needs, most of its own start-up. A ``record`` compiles nothing. All
records share one ``__init__`` (binding arguments by CPython's rules, with its
messages), ``__eq__``, ``__hash__``, ``__repr__`` and frozen ``__setattr__``.

To callers a record is a dataclass: ``dataclasses.is_dataclass()``,
``fields()``, ``replace()``, ``asdict()``, ``copy.replace()``, ``pprint``,
pytest's assertion diffs, ``@dataclass`` subclasses and ``inspect.signature()``
work, and assigning to a frozen field raises ``FrozenInstanceError``. What
they read (``__dataclass_fields__``, ``__dataclass_params__``,
``__signature__``) is built the first time they read it, which is also the
first time ``dataclasses`` or ``inspect`` is imported.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_: object) -> Callable[[_T], _T]:
        """Only type checkers read it (``typing`` has it from 3.11 on)."""
        return lambda f: f


__all__ = ["field", "record", "record_fields", "replace"]

_T = TypeVar("_T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_MISSING: Any = _Missing()


class _Factory:
    """The default a signature shows for a field with a factory, as a dataclass's does."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY: Any = _Factory()


class _Field:
    """What ``field()`` declares, until ``record`` reads it."""

    __slots__ = ("compare", "default", "default_factory", "hash")

    def __init__(self, default: Any, default_factory: Any, compare: bool, hash: bool | None) -> None:
        self.default, self.default_factory, self.compare, self.hash = default, default_factory, compare, hash


def field(
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] = _MISSING,
    compare: bool = True,
    hash: bool | None = None,
) -> Any:
    """``dataclasses.field`` for records: a default or a factory, and whether
    the field takes part in ``==`` and in ``hash()``."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory, compare, hash)


class _Meta:
    """One record class's fields, as ``record`` read them."""

    __slots__ = (
        "annotations",
        "compared",
        "fields",
        "frozen",
        "hashed",
        "post_init",
        "required",
        "specs",
        "where",
    )

    def __init__(self, annotations: dict[str, Any], specs: dict[str, _Field], frozen: bool) -> None:
        self.annotations, self.specs, self.frozen = annotations, specs, frozen
        self.fields = tuple(specs)
        self.compared = tuple(n for n, s in specs.items() if s.compare)
        self.hashed = tuple(n for n, s in specs.items() if (s.compare if s.hash is None else s.hash))
        self.post_init = False
        self.where = "__init__()"
        required = [n for n, s in specs.items() if s.default is _MISSING and s.default_factory is _MISSING]
        if tuple(required) != self.fields[: len(required)]:
            late = next(n for n in required if self.fields.index(n) >= len(required))
            raise TypeError(f"non-default argument {late!r} follows default argument")
        self.required = len(required)

    def too_many(self, given: int) -> str:
        """CPython's words for too many positional arguments (``self`` counted)."""
        most = len(self.fields) + 1
        if self.required + 1 < most:
            takes, plural = f"from {self.required + 1} to {most}", "s"
        else:
            takes, plural = str(most), "s" if most != 1 else ""
        return f"{self.where} takes {takes} positional argument{plural} but {given + 1} were given"

    def missing(self, values: Mapping[str, Any]) -> str:
        """CPython's words for missing required arguments."""
        names = [f"'{n}'" for n in self.fields[: self.required] if n not in values]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + ("," if len(names) > 2 else "")
        listed = listed if len(names) == 1 else f"{listed} and {names[-1]}"
        plural = "s" if len(names) > 1 else ""
        return f"{self.where} missing {len(names)} required positional argument{plural}: {listed}"


def _meta(obj: object) -> _Meta:
    meta: _Meta = type(obj).__record__  # type: ignore[attr-defined]
    return meta


def record_fields(obj: object) -> tuple[str, ...]:
    """The field names of a record (or of its class), in declaration order."""
    meta: _Meta = (obj if isinstance(obj, type) else type(obj)).__record__  # type: ignore[attr-defined]
    return meta.fields


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of a record with some fields changed, as ``dataclasses.replace``."""
    values = {name: getattr(obj, name) for name in _meta(obj).fields}
    values.update(changes)
    return type(obj)(**values)


def _repr(self: object) -> str:
    body = ", ".join(f"{name}={getattr(self, name)!r}" for name in _meta(self).fields)
    return f"{type(self).__qualname__}({body})"


def _eq(self: object, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = _meta(self).compared
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: object) -> int:
    return hash(tuple(getattr(self, n) for n in _meta(self).hashed))


def _frozen_error(verb: str, name: str) -> Exception:
    import dataclasses  # only on the way to an error

    return dataclasses.FrozenInstanceError(f"cannot {verb} field {name!r}")


def _standard(cls: type, name: str) -> Any:
    """``__dataclass_fields__`` or ``__dataclass_params__``, from a real
    dataclass of the same shape, built when first read; both are then cached
    on the class in place of the descriptors (pprint, pytest's assertion
    diffs and ``@dataclass`` subclasses read them)."""
    import dataclasses

    meta: _Meta = cls.__record__  # type: ignore[attr-defined]
    specs = []
    for field_name, s in meta.specs.items():
        std = dataclasses.field(
            default=dataclasses.MISSING if s.default is _MISSING else s.default,
            default_factory=dataclasses.MISSING if s.default_factory is _MISSING else s.default_factory,
            compare=s.compare,
            hash=s.hash,
        )
        specs.append((field_name, meta.annotations[field_name], std))
    shadow = dataclasses.make_dataclass(cls.__name__, specs, frozen=meta.frozen)
    for attr in ("__dataclass_fields__", "__dataclass_params__"):
        type.__setattr__(cls, attr, getattr(shadow, attr))  # replaces the descriptor
    return getattr(cls, name)


class _Standard:
    """A class attribute ``dataclasses`` reads, made on first use."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, cls: type) -> Any:
        return _standard(cls, self.name)


def _init(self: object, /, *args: Any, **kwargs: Any) -> None:
    """Every record's ``__init__``: binds the arguments by Python's rules, with
    Python's messages, so no class needs code of its own compiled."""
    meta = _meta(self)
    fields, specs = meta.fields, meta.specs
    values = dict(zip(fields, args, strict=False))  # extra args: refused below
    for name, value in kwargs.items():  # keywords first, as CPython checks them
        if name not in specs:
            raise TypeError(f"{meta.where} got an unexpected keyword argument '{name}'")
        if name in values:
            raise TypeError(f"{meta.where} got multiple values for argument '{name}'")
        values[name] = value
    if len(args) > len(fields):
        raise TypeError(meta.too_many(len(args)))
    for name in fields:
        if name not in values:
            s = specs[name]
            if s.default_factory is not _MISSING:
                values[name] = s.default_factory()
            elif s.default is not _MISSING:
                values[name] = s.default
            else:
                raise TypeError(meta.missing(values))
        object.__setattr__(self, name, values[name])
    if meta.post_init:
        self.__post_init__()  # type: ignore[attr-defined]


class _Signature:
    """``inspect.signature()`` of a record's class: its fields as parameters,
    built when asked (``inspect`` is imported then, not at start-up)."""

    def __get__(self, obj: object, cls: type) -> Any:
        import inspect

        meta: _Meta = cls.__record__  # type: ignore[attr-defined]
        params = []
        for name, s in meta.specs.items():
            default = _FACTORY if s.default_factory is not _MISSING else s.default
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.POSITIONAL_OR_KEYWORD,
                    default=inspect.Parameter.empty if default is _MISSING else default,
                    annotation=meta.annotations[name],
                )
            )
        return inspect.Signature(params, return_annotation=None)


def _build(cls: type[_T], frozen: bool) -> type[_T]:
    if any(hasattr(base, "__record__") for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a record cannot inherit another record's fields")
    annotations: dict[str, Any] = dict(cls.__annotations__)  # its own, on 3.10+
    specs: dict[str, _Field] = {}
    for name in annotations:
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, _Field) else _Field(value, _MISSING, True, None)
        specs[name] = spec
        if isinstance(value, _Field):
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    meta = _Meta(annotations, specs, frozen)
    meta.post_init = hasattr(cls, "__post_init__")
    meta.where = f"{cls.__qualname__}.__init__()"

    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in specs:
            raise _frozen_error("assign to", name)
        object.__setattr__(self, name, value)

    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in specs:
            raise _frozen_error("delete", name)
        object.__delattr__(self, name)

    __setattr__.__qualname__ = f"{cls.__qualname__}.__setattr__"
    __delattr__.__qualname__ = f"{cls.__qualname__}.__delattr__"
    init = types.FunctionType(_init.__code__, _init.__globals__, "__init__", None, _init.__closure__)
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # the shared code, under the class's name
    methods: dict[str, Any] = {"__init__": init, "__repr__": _repr, "__eq__": _eq, "__replace__": replace}
    if frozen:
        methods.update(__hash__=_hash, __setattr__=__setattr__, __delattr__=__delattr__)
    else:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as a dataclass
    for name, value in methods.items():
        # As with @dataclass, what the class defines itself wins (a bare
        # __hash__ = None is what Python adds beside a class's own __eq__).
        if cls.__dict__.get(name) is None:
            setattr(cls, name, value)
    always = {
        "__match_args__": meta.fields,
        "__record__": meta,
        "__dataclass_fields__": _Standard("__dataclass_fields__"),
        "__dataclass_params__": _Standard("__dataclass_params__"),
        "__signature__": _Signature(),
    }
    for name, value in always.items():
        setattr(cls, name, value)
    return cls


@overload
def record(cls: type[_T], /) -> type[_T]: ...
@overload
def record(*, frozen: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T] | None = None, /, *, frozen: bool = True) -> Any:
    """``@dataclass(frozen=True)``, or ``@record(frozen=False)`` for a mutable
    one; fields are the class's annotations, defaults its attributes."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)
