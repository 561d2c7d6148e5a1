"""Records: what `@dataclass` gives the classes on `netwarden check`'s path (Settings, Facts,
Unknown, ...), without importing dataclasses, whose import costs ~11 ms (most of it `inspect`) of
a start-up budget of ~70 ms (README "Measured").

Only the subset netwarden uses: annotated fields in order with defaults, `field(default=,
default_factory=, metadata=)`, keyword or positional construction, `__post_init__`, `frozen`,
equality and repr by fields; `fields()`, `replace()`, `is_record()`. Annotations stay strings
(`from __future__ import annotations`): nothing is evaluated at class creation.
"""

from __future__ import annotations

from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    __slots__ = ("name", "type", "default", "default_factory", "metadata")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, metadata: dict | None = None):
        self.name, self.type = "", ""
        self.default, self.default_factory, self.metadata = default, default_factory, metadata or {}


def field(*, default: Any = MISSING, default_factory: Any = MISSING, metadata: dict | None = None) -> Any:
    return Field(default, default_factory, metadata)


def record(cls=None, *, frozen: bool = False):
    """The class decorator: `@record` or `@record(frozen=True)`."""

    def build(cls):
        found = []
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            value = cls.__dict__.get(name, MISSING)
            spec = value if isinstance(value, Field) else Field(default=value)
            spec.name, spec.type = name, annotation
            found.append(spec)
            if isinstance(value, Field):  # the class attribute becomes the plain default, as with dataclasses
                if spec.default is MISSING:
                    delattr(cls, name)
                else:
                    setattr(cls, name, spec.default)
        cls.__record_fields__ = tuple(found)
        cls.__init__ = _init
        cls.__repr__ = _repr
        cls.__eq__ = _eq
        cls.__hash__ = _hash if frozen else None
        if frozen:
            cls.__setattr__ = _refuse
            cls.__delattr__ = _refuse
        return cls

    return build if cls is None else build(cls)


def _init(self, *args, **kwargs) -> None:
    specs = type(self).__record_fields__
    if len(args) > len(specs):
        raise TypeError(f"{type(self).__name__} takes at most {len(specs)} positional arguments")
    for spec, value in zip(specs, args):
        if spec.name in kwargs:
            raise TypeError(f"{type(self).__name__} got {spec.name} twice")
        kwargs[spec.name] = value
    for spec in specs:
        if spec.name in kwargs:
            value = kwargs.pop(spec.name)
        elif spec.default is not MISSING:
            value = spec.default
        elif spec.default_factory is not MISSING:
            value = spec.default_factory()
        else:
            raise TypeError(f"{type(self).__name__} needs {spec.name}")
        object.__setattr__(self, spec.name, value)
    if kwargs:
        raise TypeError(f"{type(self).__name__} has no field {next(iter(kwargs))!r}")
    post = getattr(self, "__post_init__", None)
    if post is not None:
        post()


def _values(obj) -> tuple:
    return tuple(getattr(obj, spec.name) for spec in obj.__record_fields__)


def _repr(self) -> str:
    return f"{type(self).__name__}(" + ", ".join(f"{s.name}={getattr(self, s.name)!r}"
                                                 for s in self.__record_fields__) + ")"


def _eq(self, other):
    return _values(self) == _values(other) if type(other) is type(self) else NotImplemented


def _hash(self) -> int:
    return hash(_values(self))


def _refuse(self, name, value=None):
    raise AttributeError(f"{type(self).__name__} is frozen: cannot change {name}")


def is_record(obj) -> bool:
    """A record class or instance."""
    return hasattr(obj, "__record_fields__")


def fields(obj) -> tuple[Field, ...]:
    return obj.__record_fields__


def replace(obj, **changes):
    """A copy of `obj` with `changes` (its __post_init__ runs again, as with dataclasses)."""
    names = {spec.name for spec in obj.__record_fields__}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {unknown[0]!r}")
    return type(obj)(**{**{name: getattr(obj, name) for name in names}, **changes})
