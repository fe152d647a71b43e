"""The dual-expert chain-of-thought loop (paper §SFT stage 3), as a plain, batch-first engine.

Per question the state is: the known facts and candidate diagnoses (the reasoning expert's first
reply), the accepted steps, the last feedback, the round count and a status. Each round runs over
ALL active questions with exactly three batched ``llm.generate`` calls:

1. reasoning expert — the question, every accepted step so far and the last feedback; ONE next step;
2. reflection expert — knows the ground truth; rates the step KEEP/DROP and steers without naming
   the answer (feedback that names it is redacted by ``common.leakage`` and the redaction recorded);
   dropped steps leave the state but stay in the transcript, their feedback reaches the next step;
   a step that fails the one degeneration filter (``common.degeneration``) is dropped whatever the
   rating, with the reason on the step (``degenerate``);
3. completion judge — is the differential complete? YES stops that question (not asked in the last
   round, which stops anyway at ``max_rounds``).

Then one batched conclusion call, verified against the ground truth by the shared answer rule.
A failed verification starts a fresh attempt (new seed) up to ``max_attempts``, then the question is
failed with its reason. Every call (rendered prompt, response, model, hashes, tokens, cached flag)
goes into the question's transcript.

Determinism (the resume mechanism): questions are processed in input order, every call's sampling
is fixed by the config (seed + attempt), so a re-run after a crash sends the very same prompts and
the LLM cache answers the finished ones for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from citrus_assets.common.decontamination.leakage import redact_answer_leaks
from citrus_assets.common.text.degeneration import degeneration_reason
from citrus_assets.reasoning_data.traces import dual_roles as R
from resources.canonical import canonical_json
from resources.llm import SamplingParams
from resources.llm.sampling import SamplingConfig

ACTIVE, COMPLETE, MAX_ROUNDS = "active", "complete", "max_rounds"


class LoopConfig(SamplingConfig):
    """The loop's bounds and sampling, with the paper's defaults (declared only here: the asset's ``TraceConfig``
    inherits them). ``temperature``/``top_p``: the reasoning expert and the conclusion; the reviewer and judge
    are greedy. ``max_tokens``: the reasoning expert's step; the other roles have their own budget."""

    max_rounds: int = 3
    max_attempts: int = 2
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 128
    max_tokens_start: int = 96
    max_tokens_reflection: int = 48
    max_tokens_judge: int = 4
    max_tokens_conclusion: int = 48

    def params(self, role: str, attempt: int, rnd: int = 0) -> SamplingParams:
        """Seeded per attempt and round: a retry or a repeated prompt in a later round gets a fresh sample."""
        greedy = role in (R.REFLECTION, R.JUDGE)
        max_tokens = {
            R.START: self.max_tokens_start,
            R.STEP: self.max_tokens,
            R.REFLECTION: self.max_tokens_reflection,
            R.JUDGE: self.max_tokens_judge,
            R.CONCLUSION: self.max_tokens_conclusion,
        }[role]
        return self.sampling(
            temperature=0.0 if greedy else self.temperature,
            top_p=1.0 if greedy else self.top_p,
            max_tokens=max_tokens,
            seed=self.seed + 1000 * attempt + rnd,
        )

    def to_json(self) -> str:
        """The loop's fields only (a subclass's scheduling fields are not sampling); the step's budget keeps its
        key of before (``max_tokens_step``), so the rows' ``sampling`` and the chunk fingerprints are unchanged."""
        fields = {k: getattr(self, k) for k in LoopConfig.model_fields if k != "max_tokens"}
        return canonical_json({**fields, "max_tokens_step": self.max_tokens}, strict=True)


@dataclass(frozen=True)
class OpenQuestion:
    question_id: str  # the open question's record_id
    question: str
    ground_truth: str
    options: tuple = ()  # ({"letter", "text"}, ...)
    answer_letters: tuple = ()
    language: str = "en"


@dataclass
class Attempt:
    """One attempt's mutable state and its part of the transcript."""

    index: int
    facts: str = ""
    accepted: list[str] = field(default_factory=list)
    feedback: str = ""
    rounds: int = 0
    status: str = ACTIVE
    calls: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    conclusion: str = ""
    verification: dict = field(default_factory=dict)


@dataclass
class TraceResult:
    question: OpenQuestion
    attempts: list[Attempt] = field(default_factory=list)
    accepted: bool = False
    reason: str = ""

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]

    @property
    def calls(self) -> list[dict]:
        return [c for a in self.attempts for c in a.calls]

    @property
    def llm_calls(self) -> int:
        return len(self.calls)

    @property
    def prompt_tokens(self) -> int:
        return sum(c["prompt_tokens"] for c in self.calls)

    @property
    def completion_tokens(self) -> int:
        return sum(c["completion_tokens"] for c in self.calls)

    def transcript(self) -> str:
        """Canonical JSON of everything the loop did for this question."""
        q = self.question
        return canonical_json(
            {
                "question_id": q.question_id,
                "question": q.question,
                "ground_truth": q.ground_truth,
                "accepted": self.accepted,
                "reason": self.reason,
                "attempts": [
                    {
                        "attempt": a.index,
                        "facts": a.facts,
                        "steps": a.steps,
                        "accepted_steps": a.accepted,
                        "rounds": a.rounds,
                        "stop": a.status,
                        "conclusion": a.conclusion,
                        "verification": a.verification,
                        "calls": a.calls,
                    }
                    for a in self.attempts
                ],
            },
            strict=True,
        )


class DualExpertLoop:
    """Runs the loop over a list of open questions with one LLM (anything with ``generate``/``render``/
    ``model_id``/``model_revision``: ``LLMResource``, ``LLMClient``)."""

    def __init__(self, llm, config: LoopConfig | None = None) -> None:
        self.llm = llm
        self.config = config or LoopConfig()
        self.batches: list[dict] = []  # one entry per generate call: role, attempt, round, prompts

    def run(self, questions: list[OpenQuestion]) -> list[TraceResult]:
        results = [TraceResult(q) for q in questions]
        pending = list(results)
        for attempt in range(max(1, self.config.max_attempts)):
            if not pending:
                break
            self._attempt(pending, attempt)
            for r in pending:
                v = r.final.verification
                r.accepted, r.reason = v["correct"], "" if v["correct"] else v["reason"]
            pending = [r for r in pending if not r.accepted]
        for r in pending:
            r.reason = f"not verified after {len(r.attempts)} attempt(s): {r.reason}"
        return results

    # -- one attempt over a batch of questions ------------------------------------------------
    def _attempt(self, results: list[TraceResult], attempt: int) -> None:
        for r in results:
            r.attempts.append(Attempt(attempt))
        live = list(results)
        facts = self._call(live, R.START, attempt, 0, lambda r, a: {"question": r.question.question})
        for r, text in zip(live, facts):
            r.final.facts = text.strip()
        for rnd in range(1, self.config.max_rounds + 1):
            live = [r for r in results if r.final.status == ACTIVE]
            if not live:
                break
            self._round(live, attempt, rnd)
        for r in results:
            if r.final.status == ACTIVE:
                r.final.status = MAX_ROUNDS
        last = max((r.final.rounds for r in results), default=0)
        texts = self._call(
            results,
            R.CONCLUSION,
            attempt,
            last,
            lambda r, a: {"question": r.question.question, "facts": a.facts, "steps": R.numbered(a.accepted)},
        )
        for r, text in zip(results, texts):
            self._conclude(r, text)

    def _round(self, live: list[TraceResult], attempt: int, rnd: int) -> None:
        steps = self._call(
            live,
            R.STEP,
            attempt,
            rnd,
            lambda r, a: {
                "question": r.question.question,
                "facts": a.facts,
                "steps": R.numbered(a.accepted),
                "feedback": a.feedback or R.NO_FEEDBACK,
            },
        )
        steps = [s.strip() for s in steps]
        step_of = {id(r): s for r, s in zip(live, steps)}
        reviews = self._call(
            live,
            R.REFLECTION,
            attempt,
            rnd,
            lambda r, a: {
                "question": r.question.question,
                "ground_truth": r.question.ground_truth,
                "facts": a.facts,
                "steps": R.numbered(a.accepted),
                "step": step_of[id(r)] or "(empty)",
            },
        )
        for r, step, review in zip(live, steps, reviews):
            record_step(r, rnd, step, review)
        if rnd >= self.config.max_rounds:
            return
        verdicts = self._call(
            live,
            R.JUDGE,
            attempt,
            rnd,
            lambda r, a: {
                "question": r.question.question,
                "ground_truth": r.question.ground_truth,
                "facts": a.facts,
                "steps": R.numbered(a.accepted),
            },
        )
        for r, text in zip(live, verdicts):
            record_judge(r, text)

    def _conclude(self, r: TraceResult, text: str) -> None:
        conclude(r, text)

    # -- the one batched call per step --------------------------------------------------------
    def _call(self, results: list[TraceResult], role: str, attempt: int, rnd: int, values) -> list[str]:
        if not results:
            return []
        messages = [R.role_messages(role, **values(r, r.final)) for r in results]
        params = self.config.params(role, attempt, rnd)
        gens = self.llm.generate(messages, params)
        self.batches.append({"role": role, "attempt": attempt, "round": rnd, "prompts": len(messages)})
        out = []
        for r, msgs, g in zip(results, messages, gens):
            r.final.calls.append(call_record(self.llm, role, attempt, rnd, msgs, params, g[0]))
            out.append(g[0].text)
        return out


# -- one question's part of the loop: shared by the rounds engine above and the continuous one ----------------
def record_step(r: TraceResult, rnd: int, step: str, review: str) -> None:
    """The reflection expert's review of one step: rating, degeneration filter, redacted feedback."""
    a = r.final
    a.rounds = rnd
    rating = R.parse_rating(review)
    degenerate = degeneration_reason(step) if step else ""  # the one degeneration filter
    verdict = rating.verdict if step and not degenerate else "drop"
    clean = redact_answer_leaks(rating.feedback, r.question.ground_truth)
    a.steps.append(
        {
            "round": rnd,
            "step": step,
            "verdict": verdict,
            "rating_parsed": rating.parsed,
            "feedback": clean.text,
            "feedback_redacted": clean.redacted,
            "leaks": list(clean.leaks),
            **({"degenerate": degenerate} if degenerate else {}),
        }
    )
    if verdict == "keep":
        a.accepted.append(step)
    a.feedback = clean.text or ("The step was kept." if verdict == "keep" else "The step was dropped.")


def record_judge(r: TraceResult, text: str) -> None:
    r.final.steps[-1]["complete"] = R.parse_complete(text)
    if r.final.steps[-1]["complete"]:
        r.final.status = COMPLETE


def call_record(
    llm, role: str, attempt: int, rnd: int, msgs, params: SamplingParams, g, sampling: str = "", rendered: str = ""
) -> dict:
    """One call of the transcript: rendered prompt, response, model, hashes, tokens, cached flag (``sampling``:
    ``params.to_json()`` and ``rendered``: ``llm.render(msgs)``, when the caller has them)."""
    rendered = rendered or llm.render(msgs)
    return {
        "role": role,
        "attempt": attempt,
        "round": rnd,
        "prompt": rendered,
        "response": g.text,
        "model": llm.model_id,
        "revision": llm.model_revision,
        "template": R.PROMPT_FILES[role],
        "template_sha": R.template_sha(role),
        "prompt_hash": R.text_hash(rendered),
        "sampling": sampling or params.to_json(),
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.completion_tokens,
        "finish_reason": g.finish_reason,
        "cached": g.cached,
    }


def conclude(r: TraceResult, text: str) -> None:
    """The conclusion, verified against the ground truth by the shared answer rule."""
    a, q = r.final, r.question
    a.conclusion = text.strip()
    v = R.verify(a.conclusion, q.options, q.answer_letters, q.ground_truth)
    if not a.conclusion:
        reason = "empty conclusion"
    elif not v.letters:
        reason = f"conclusion names no answer option ({v.method})"
    else:
        reason = "" if v.correct else f"wrong answer {'/'.join(v.letters)} (truth {'/'.join(q.answer_letters) or 'A'})"
    a.verification = {
        "correct": v.correct,
        "answer": v.answer,
        "letters": list(v.letters),
        "method": v.method,
        "reason": reason,
    }


@dataclass(frozen=True)
class Call:
    """What a question's program asks next: one prompt of ``role`` (sampled by ``LoopConfig.params``)."""

    role: str
    attempt: int
    rnd: int
    messages: list


@dataclass(frozen=True)
class Cohort:
    """The question waits for its cohort: the conclusion is sampled at the round the rounds engine uses, the most
    rounds any question of the attempt's cohort ran (so both engines send the same prompts with the same seeds)."""

    attempt: int


def question_program(r: TraceResult, config: LoopConfig):
    """One question's loop as a generator: yields ``Call`` (send back the response text) or ``Cohort`` (send back
    the cohort's round for the conclusion). The same prompts, order and bookkeeping as ``DualExpertLoop``."""
    q = r.question
    for attempt in range(max(1, config.max_attempts)):
        r.attempts.append(Attempt(attempt))
        a = r.final
        a.facts = (yield Call(R.START, attempt, 0, R.role_messages(R.START, question=q.question))).strip()
        for rnd in range(1, config.max_rounds + 1):
            if a.status != ACTIVE:
                break
            step = (
                yield Call(
                    R.STEP,
                    attempt,
                    rnd,
                    R.role_messages(
                        R.STEP,
                        question=q.question,
                        facts=a.facts,
                        steps=R.numbered(a.accepted),
                        feedback=a.feedback or R.NO_FEEDBACK,
                    ),
                )
            ).strip()
            review = yield Call(
                R.REFLECTION,
                attempt,
                rnd,
                R.role_messages(
                    R.REFLECTION,
                    question=q.question,
                    ground_truth=q.ground_truth,
                    facts=a.facts,
                    steps=R.numbered(a.accepted),
                    step=step or "(empty)",
                ),
            )
            record_step(r, rnd, step, review)
            if rnd < config.max_rounds:
                record_judge(
                    r,
                    (
                        yield Call(
                            R.JUDGE,
                            attempt,
                            rnd,
                            R.role_messages(
                                R.JUDGE,
                                question=q.question,
                                ground_truth=q.ground_truth,
                                facts=a.facts,
                                steps=R.numbered(a.accepted),
                            ),
                        )
                    ),
                )
        if a.status == ACTIVE:
            a.status = MAX_ROUNDS
        last = yield Cohort(attempt)
        conclude(
            r,
            (
                yield Call(
                    R.CONCLUSION,
                    attempt,
                    last,
                    R.role_messages(R.CONCLUSION, question=q.question, facts=a.facts, steps=R.numbered(a.accepted)),
                )
            ),
        )
        v = a.verification
        r.accepted, r.reason = v["correct"], "" if v["correct"] else v["reason"]
        if r.accepted:
            return
    r.reason = f"not verified after {len(r.attempts)} attempt(s): {r.reason}"
