"""The LLM cost guard: no surprise bills from runs nobody launched by hand.

A run started by the automation (declarative automation conditions), a sensor or a schedule is
*automatic*; one launched from the UI, the CLI or a backfill by a person is *manual*. For automatic runs
the guard

- refuses every new LLM request when ``auto_runs_enabled`` is off (the step stops before its first uncached
  batch; a fully cached step still completes);
- otherwise allows at most ``max_requests_per_auto_run`` *new* requests (cache misses: one per generated
  sample; cached answers cost nothing and are never counted) per run (per step process with the
  multiprocess executor). The batch that would cross the budget is not sent: :class:`LLMBudgetExceeded`
  (a ``dg.Failure``: the step stops cleanly, metadata ``llm_cost_guard`` = origin, limit, used, asked) is
  raised before it, so the budget is a hard cap and no partial partition is written.

Manual runs are not limited unless ``guard_manual_runs`` is on. The settings are fields of the ``llm``
resource (``LLMResource`` mixes :class:`LLMCostGuard` in), so they show in the UI's resource page and in the
launchpad's run config (``resources: llm: config: max_requests_per_auto_run: ...``). The code location's
resources set ``env_defaults``: a setting left at its default is then read from ``CITRUS_LLM_AUTO_RUNS``
(``0`` = off) / ``CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN`` when a run starts (``run_budget``), never at import.

Everything already generated stays in the request cache, so a step stopped by the budget resumes where it
stopped when it runs again (manually, or after the budget is raised) and pays only for what is left.

Where it is enforced: ``LLMResource.setup_for_execution`` reads the run's tags and attaches the run's
:class:`RequestBudget` to its client, so every step that uses the ``llm`` resource is guarded without code
of its own. An LLM resource a step derives itself (a judge of the panel, the stage-3 checkpoint's sampler)
shares the step's budget through ``citrus_assets.common.cost_guard.llm_cost_guard``; any plain
``LLMClient`` takes one as ``client.budget = budget`` (the evaluation's model clients can reuse it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

import dagster as dg

# Dagster's run tags (dagster._core.storage.tags) that mark a run not launched by a person.
AUTOMATION_CONDITION_TAG = "dagster/from_automation_condition"
AUTO_MATERIALIZE_TAG = "dagster/auto_materialize"
SENSOR_NAME_TAG = "dagster/sensor_name"
SCHEDULE_NAME_TAG = "dagster/schedule_name"

DEFAULT_MAX_REQUESTS_PER_AUTO_RUN = 2000  # the sample's seed set costs ~300 new requests end to end


# the environment variable of each guard setting (read at run time when ``env_defaults`` is on)
GUARD_ENV = {
    "auto_runs_enabled": "CITRUS_LLM_AUTO_RUNS",
    "max_requests_per_auto_run": "CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN",
}
_OFF = ("0", "false", "off", "no")


def env_defaults(config: dg.Config, names: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict:
    """``{field: value}`` from the environment (``env``, default ``os.environ``, read now) for each field of
    ``names`` (field -> variable) that ``config`` leaves at its class default and whose variable is set and
    not empty; a value set in code or run config wins. Booleans: ``0``/``false``/``off``/``no`` are False."""
    env = os.environ if env is None else env
    fields = type(config).model_fields
    out: dict = {}
    for name, var in names.items():
        raw = (env.get(var) or "").strip()
        if not raw or getattr(config, name) != fields[name].default:
            continue
        kind = fields[name].annotation
        out[name] = raw.lower() not in _OFF if kind is bool else int(raw) if kind is int else raw
    return out


class LLMCostGuard(dg.Config):
    """Cost guard of LLM steps (see ``resources/llm/cost_guard.py``)."""

    auto_runs_enabled: bool = True  # off: runs started by automation, sensors or schedules make no LLM request
    max_requests_per_auto_run: int = DEFAULT_MAX_REQUESTS_PER_AUTO_RUN  # new (uncached) requests per step
    guard_manual_runs: bool = False  # on: the budget applies to manually launched runs too
    # on (the code location's resources): a setting left at its default takes its environment variable's value
    # when a run starts ($CITRUS_LLM_AUTO_RUNS, $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN; the llm resource's
    # $CITRUS_LLM_BACKEND / _MODEL / _BASE_URL, resources/llm/settings.py)
    env_defaults: bool = False

    def cost_guard_settings(self) -> dict:
        """The guard in force now: the fields, with the environment's values where ``env_defaults`` says so."""
        values = {name: getattr(self, name) for name in ("auto_runs_enabled", *GUARD_ENV, "guard_manual_runs")}
        return {**values, **(env_defaults(self, GUARD_ENV) if self.env_defaults else {})}


def automatic_origin(tags: Mapping[str, str]) -> str:
    """Why a run counts as automatic ("automation", "sensor <name>", "schedule <name>"); "" = manual."""
    tags = tags or {}
    if tags.get(AUTOMATION_CONDITION_TAG) or tags.get(AUTO_MATERIALIZE_TAG):
        return "automation"
    if tags.get(SENSOR_NAME_TAG):
        return f"sensor {tags[SENSOR_NAME_TAG]}"
    if tags.get(SCHEDULE_NAME_TAG):
        return f"schedule {tags[SCHEDULE_NAME_TAG]}"
    return ""


class LLMBudgetExceeded(dg.Failure):
    """The next batch would cross the request budget of the run; it was not sent. A ``dg.Failure``: the step
    stops cleanly with this description and the budget in its metadata (no partial partition is written)."""

    def __init__(self, budget: RequestBudget, asked: int, model: str) -> None:
        self.used, self.limit, self.asked, self.model, self.origin = (
            budget.used,
            budget.limit,
            asked,
            model,
            budget.origin,
        )
        run = f"this {budget.origin} run" if budget.origin else "this run"
        if budget.disabled:
            text = (
                f"LLM cost guard: LLM requests in automatic runs are switched off (llm.auto_runs_enabled = false, "
                f"$CITRUS_LLM_AUTO_RUNS=0) and {run} asks {asked} new ones from {model} (cached answers are "
                "free). Launch it by hand, or switch automatic runs on."
            )
        else:
            text = (
                f"LLM cost guard: {run} may make {budget.limit} new LLM requests; {budget.used} were made and "
                f"the next batch asks {asked} more from {model}. Nothing over the budget was sent; everything "
                "generated so far is cached, so a re-run pays only for the rest. Raise "
                "llm.max_requests_per_auto_run (or $CITRUS_LLM_MAX_REQUESTS_PER_AUTO_RUN) or launch the run by hand."
            )
        super().__init__(
            description=text,
            metadata={
                "llm_cost_guard": dg.MetadataValue.json({**budget.as_metadata(), "asked": asked, "model": model}),
                "stopped_by": "llm_cost_guard",
            },
        )


class RequestBudget:
    """Counts new LLM requests (generated samples) of one step; thread-safe; ``limit`` None = unlimited."""

    def __init__(self, limit: int | None, origin: str = "", disabled: bool = False) -> None:
        self.limit = 0 if disabled else limit
        self.origin = origin
        self.disabled = disabled
        self.used = 0
        self._lock = threading.Lock()

    def charge(self, n: int, model: str = "") -> None:
        """Reserve ``n`` requests before sending them, or raise :class:`LLMBudgetExceeded` (nothing reserved)."""
        if n <= 0:
            return
        with self._lock:
            if self.limit is not None and self.used + n > self.limit:
                raise LLMBudgetExceeded(self, n, model)
            self.used += n

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    def as_metadata(self) -> dict:
        return {
            "origin": self.origin or "manual",
            "limit": self.limit,
            "used": self.used,
            **({"auto_runs_enabled": False} if self.disabled else {}),
        }


def run_budget(guard: LLMCostGuard, tags: Mapping[str, str]) -> RequestBudget:
    """The budget of a run with ``tags`` under ``guard``: automatic runs get ``max_requests_per_auto_run``
    new requests (none when ``auto_runs_enabled`` is off: cached answers still cost nothing); a manual run
    gets an unlimited counter unless ``guard_manual_runs``."""
    origin = automatic_origin(tags)
    settings = guard.cost_guard_settings()  # with env_defaults on, the environment is read here (run time)
    if origin and not settings["auto_runs_enabled"]:
        return RequestBudget(0, origin, disabled=True)
    limited = bool(origin) or settings["guard_manual_runs"]
    return RequestBudget(max(0, settings["max_requests_per_auto_run"]) if limited else None, origin)
