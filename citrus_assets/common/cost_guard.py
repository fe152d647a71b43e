"""The cost guard of LLM steps, Dagster side (policy, settings and the budget: ``resources/llm/cost_guard.py``).

Every step that uses the ``llm`` resource is guarded without code of its own: the resource attaches the
run's budget when Dagster sets it up (automatic run: ``llm.max_requests_per_auto_run`` new requests, none
when ``llm.auto_runs_enabled`` is off; manual run: counted, not limited). The batch that would cross the
budget is not sent and the step stops cleanly (``LLMBudgetExceeded`` is a ``dg.Failure``; metadata
``llm_cost_guard``); what was generated before stays cached.

A step that builds more LLM resources itself (a judge panel, a sampler on the stage-3 checkpoint) charges
them to the same budget and reports it::

    with llm_cost_guard(context, llm, *derived) as budget:
        ...
    return output(table, **budget_metadata(budget))

The evaluation stage can reuse both for its model clients (an ``LLMClient`` takes ``client.budget``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from resources.llm.cost_guard import LLMCostGuard, RequestBudget, run_budget

METADATA_KEY = "llm_cost_guard"


def _tags(context) -> dict:
    run = getattr(context, "run", None) or getattr(context, "dagster_run", None)
    return dict(getattr(run, "tags", None) or {})


def step_budget(context, llm) -> RequestBudget:
    """The budget the ``llm`` resource holds for this run, or a new one from the run's tags."""
    budget = getattr(llm, "budget", None)
    if isinstance(budget, RequestBudget):
        return budget
    return run_budget(llm if isinstance(llm, LLMCostGuard) else LLMCostGuard(), _tags(context))


def attach(llm, budget: RequestBudget | None) -> None:
    """Charge ``llm``'s new requests to ``budget`` (an ``LLMResource``, or a plain ``LLMClient``)."""
    if hasattr(llm, "attach_budget"):
        llm.attach_budget(budget)
    else:
        llm.budget = budget


@contextmanager
def llm_cost_guard(context, llm, *derived) -> Iterator[RequestBudget]:
    """Charge ``llm`` and the LLM resources ``derived`` from it in this step to one budget."""
    budget = step_budget(context, llm)
    for res in (llm, *derived):
        attach(res, budget)
    yield budget


def budget_metadata(budget) -> dict:
    """Materialization metadata of the step's budget ({origin, limit, used}); ``budget`` may be the
    ``RequestBudget`` or the LLM resource holding it ({} when there is none)."""
    if budget is not None and not isinstance(budget, RequestBudget):
        budget = getattr(budget, "budget", None)
    return {METADATA_KEY: dg.MetadataValue.json(budget.as_metadata())} if isinstance(budget, RequestBudget) else {}
