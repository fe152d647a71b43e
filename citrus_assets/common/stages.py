"""The code location's stages, found rather than listed.

A stage is a direct sub-package of ``citrus_assets`` (``cpt_corpus``, ``reasoning_data``, ``model_training``,
``evaluation``, ``jmed``; not ``common`` or ``cli``). Its assets, asset checks and sensors are whatever its
modules define (Dagster's ``load_assets_from_modules`` / ``load_asset_checks_from_modules``; sensors by type),
so a new asset module is in the graph without being added to a list. Every asset of a stage is in one asset
group, named here (``stage_group``) rather than in each asset module: the stage package's name, or the ``GROUP``
its ``__init__`` declares (``model_training`` keeps the group name ``training``). A stage package may declare, in its
``__init__``, ``AUTOMATED_ON_NEW_DATA``: the names of the assets of its chain that run on new input data
(``common/automation.py``), kept in one place rather than in each asset module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import dagster as dg

import citrus_assets
from citrus_assets.common.scheduling.automation import ON_NEW_DATA, with_automation

NOT_STAGES = ("common", "cli")


@dataclass(frozen=True)
class Stage:
    name: str
    assets: list
    checks: list
    sensors: list


def stage_modules(package: ModuleType) -> list[ModuleType]:
    """Every module of a stage package, sub-packages included."""
    return [importlib.import_module(m.name) for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


def stage_group(package: ModuleType) -> str:
    """The asset group of every asset of a stage: ``GROUP`` of the stage package, else the package's name."""
    return getattr(package, "GROUP", None) or package.__name__.rsplit(".", 1)[-1]


def load_stage(package: ModuleType | str) -> Stage:
    if isinstance(package, str):
        package = importlib.import_module(package)
    modules = stage_modules(package)
    # an asset module that still names another group fails here (Dagster refuses the conflict)
    assets = list(dg.load_assets_from_modules(modules, group_name=stage_group(package)))
    automated = getattr(package, "AUTOMATED_ON_NEW_DATA", ())
    if automated:
        assets = with_automation(assets, ON_NEW_DATA, tuple(automated))
    checks = list(dg.load_asset_checks_from_modules(modules))
    sensors = {id(v): v for m in modules for v in vars(m).values() if isinstance(v, dg.SensorDefinition)}
    return Stage(
        name=package.__name__.rsplit(".", 1)[-1],
        assets=assets,
        checks=checks,
        sensors=sorted(sensors.values(), key=lambda s: s.name),
    )


def find_stages() -> list[Stage]:
    """Every stage package of ``citrus_assets``, by name."""
    names = sorted(m.name for m in pkgutil.iter_modules(citrus_assets.__path__) if m.ispkg and m.name not in NOT_STAGES)
    return [load_stage(f"citrus_assets.{n}") for n in names]
