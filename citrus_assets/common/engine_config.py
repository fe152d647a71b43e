"""One config per engine: a Dagster run config made from the engine's own dataclass.

An engine (a trainer in ``training.config``, the datatrove executors in ``cpt_corpus.web.pipelines``) declares its
settings and their defaults once, in a plain dataclass that imports no Dagster. :func:`engine_run_config` makes
the ``dg.Config`` subclass that offers those fields in the run config (same types and defaults; a field can be
renamed, e.g. ``kind`` -> ``executor``) on top of a hand-written :class:`EngineRunConfig` subclass holding the
Dagster-only fields and methods. :meth:`EngineRunConfig.to_engine` builds the engine's dataclass back: a field
is declared in one place, and its default is the engine's.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import dagster as dg
import pydantic


class EngineRunConfig(dg.Config):
    """Base of a run config made by :func:`engine_run_config`; the made class knows its engine's fields."""

    engine: ClassVar[type | None] = None
    engine_fields: ClassVar[dict[str, str]] = {}  # run-config name -> engine field name

    def engine_kwargs(self) -> dict[str, Any]:
        """The engine's fields from this run config, under the engine's names."""
        return {field: _copy(getattr(self, name)) for name, field in self.engine_fields.items()}

    def to_engine(self, **launch: Any) -> Any:
        """The engine's dataclass: these run-config values plus ``launch`` (the fields the run config hides)."""
        if self.engine is None:
            raise TypeError(f"{type(self).__name__} was not made by engine_run_config")
        return self.engine(**self.engine_kwargs(), **launch)


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, list) else value


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()  # a value, not a factory: Dagster's schema reads the default (pydantic copies it)
    raise TypeError(f"engine field {f.name!r} has no default: a run config field needs one")


def engine_run_config(
    name: str,
    engine: type,
    base: type[EngineRunConfig],
    *,
    exclude: Iterable[str] = (),
    rename: Mapping[str, str] | None = None,
    doc: str = "",
) -> type[EngineRunConfig]:
    """``base`` plus every field of the dataclass ``engine`` not in ``exclude`` (``rename``: engine name -> run
    config name). A field of ``base`` may not shadow an engine field: it would declare it twice."""
    rename = dict(rename or {})
    skip = set(exclude)
    hints = typing.get_type_hints(engine)
    fields: dict[str, Any] = {}
    mapping: dict[str, str] = {}
    for f in dataclasses.fields(engine):
        if f.name in skip:
            continue
        run_name = rename.get(f.name, f.name)
        if run_name in base.model_fields:
            raise TypeError(f"{base.__name__}.{run_name} would declare {engine.__name__}.{f.name} a second time")
        fields[run_name] = (hints[f.name], _default(f))
        mapping[run_name] = f.name
    unknown = (skip | set(rename)) - {f.name for f in dataclasses.fields(engine)}
    if unknown:
        raise TypeError(f"{engine.__name__} has no fields {sorted(unknown)}")
    cls = pydantic.create_model(name, __base__=base, __doc__=doc or base.__doc__, __module__=base.__module__, **fields)
    cls.engine = engine
    cls.engine_fields = mapping
    return cls


def declared_fields(cls: type[dg.Config]) -> set[str]:
    """The run-config fields a class declares itself (its own annotations), not those it inherits or was made with."""
    return set(getattr(cls, "__annotations__", {})) - {"engine", "engine_fields"}


__all__ = ["EngineRunConfig", "declared_fields", "engine_run_config"]
