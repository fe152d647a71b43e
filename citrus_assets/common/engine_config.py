"""One config per engine: a Dagster run config made from the engine's own dataclass.

An engine (a trainer in ``training.config``, the datatrove executors in ``cpt_corpus.web.pipelines``) declares its
settings and their defaults once, in a plain dataclass that imports no Dagster. :func:`engine_run_config` makes
the ``dg.Config`` subclass that offers those fields in the run config (same types and defaults; a field can be
renamed, e.g. ``kind`` -> ``executor``) on top of a hand-written :class:`EngineRunConfig` subclass holding the
Dagster-only fields and methods (applied twice, a run config offers two engines' fields: the web assets').
:meth:`EngineRunConfig.to_engine` builds the engine's dataclass back: a field is declared in one place, and its
default is the engine's.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import dagster as dg
import pydantic


class EngineRunConfig(dg.Config):
    """Base of a run config made by :func:`engine_run_config`; the made class knows its engines' fields."""

    engines: ClassVar[dict[type, dict[str, str]]] = {}  # engine dataclass -> {run-config name: engine field}

    def _engine(self, engine: type | None) -> type:
        if engine is None:
            if len(self.engines) != 1:
                raise TypeError(f"{type(self).__name__} offers {len(self.engines)} engines' fields: name one")
            (engine,) = self.engines
        if engine not in self.engines:
            raise TypeError(f"{type(self).__name__} was not made from {getattr(engine, '__name__', engine)}")
        return engine

    def engine_kwargs(self, engine: type | None = None) -> dict[str, Any]:
        """An engine's fields from this run config, under the engine's names and types (a list back to a tuple)."""
        engine = self._engine(engine)
        hints = typing.get_type_hints(engine)
        return {field: _to_engine(getattr(self, name), hints[field]) for name, field in self.engines[engine].items()}

    def to_engine(self, engine: type | None = None, **launch: Any) -> Any:
        """The engine's dataclass: these run-config values plus ``launch`` (the fields the run config hides)."""
        engine = self._engine(engine)
        return engine(**self.engine_kwargs(engine), **launch)


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple


def _to_engine(value: Any, hint: Any) -> Any:
    if _is_tuple(hint):
        return tuple(value)
    return dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, list) else value


def _run_type(hint: Any) -> Any:
    """Dagster run config has lists, not tuples: ``tuple[X, ...]`` is offered as ``list[X]``."""
    if _is_tuple(hint):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        if len(set(args)) != 1:
            raise TypeError(f"only tuple[X, ...] fields can be offered in run config, not {hint}")
        return list[args[0]]  # type: ignore[valid-type]
    return hint


def _default(f: dataclasses.Field, hint: Any) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()  # a value, not a factory: Dagster's schema reads the default (pydantic copies it)
    else:
        raise TypeError(f"engine field {f.name!r} has no default: a run config field needs one")
    return list(value) if _is_tuple(hint) else value


def engine_run_config(
    name: str,
    engine: type,
    base: type[EngineRunConfig],
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    doc: str = "",
) -> type[EngineRunConfig]:
    """``base`` plus the fields of the dataclass ``engine`` (those in ``include`` when given, none in ``exclude``;
    ``rename``: engine name -> run-config name). A field ``base`` already has (declared by hand, or made from
    another engine) may not come again: it would be declared twice."""
    rename = dict(rename or {})
    names = {f.name for f in dataclasses.fields(engine)}
    wanted = set(names if include is None else include) - set(exclude)
    unknown = (wanted | set(exclude) | set(rename)) - names
    if unknown:
        raise TypeError(f"{engine.__name__} has no fields {sorted(unknown)}")
    hints = typing.get_type_hints(engine)
    fields: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for f in dataclasses.fields(engine):
        if f.name not in wanted:
            continue
        run_name = rename.get(f.name, f.name)
        if run_name in base.model_fields:
            raise TypeError(f"{base.__name__}.{run_name} would declare {engine.__name__}.{f.name} a second time")
        fields[run_name] = (_run_type(hints[f.name]), _default(f, hints[f.name]))
        mapping[run_name] = f.name
    cls = pydantic.create_model(name, __base__=base, __doc__=doc or base.__doc__, __module__=base.__module__, **fields)
    cls.engines = {**base.engines, engine: mapping}
    return cls


def declared_fields(cls: type[dg.Config]) -> set[str]:
    """The run-config fields a class declares itself (its own annotations), not those it inherits or was made with."""
    return set(getattr(cls, "__annotations__", {})) - {"engines"}


__all__ = ["EngineRunConfig", "declared_fields", "engine_run_config"]
