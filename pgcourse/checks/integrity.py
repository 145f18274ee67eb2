"""Which library code counts as an exercise's answer, and how a check sees that it ran.

The course library holds the reference of many exercises (notebook 04's `reward_to_go` lives on
in `pgcourse.tabular.returns` for notebook 05), and some helpers do an exercise's whole idea in one call.
An answer that *is* such code, or *calls* it while it runs, earns no points on that question.

Detection is by what runs, not by names or source text: while the student's function runs inside
a check, `sys.setprofile` sees every Python frame that starts, and a frame whose code object is
one of the exercise's registered functions is a hit. Imports under another name, aliases,
wrappers, `functools.partial`, lambdas, classes with `__call__`, `np.apply_along_axis(ref, …)`
and modules imported under another name all end up running the same code object; hand-written
code, even a verbatim copy of the library's source, has a code object of its own and is never
flagged. numpy and torch are never registered, and earlier exercises' references stay allowed
where the exercise is something else (notebook 05 may call `discounted_reward_to_go`).

A registered function that runs because *other library code* delegates to it (notebook 02's
single-step `grad_log_tabular_softmax` calls the batch version) is not the student's call and
is not a hit, unless that library code was handed the registered function as an argument.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any, Callable

_LIBRARY_DIR = str(Path(__file__).resolve().parents[1])            # …/pgcourse
_CHECKS_DIR = str(Path(__file__).resolve().parent)                 # …/pgcourse/checks (the harness)


@dataclass(frozen=True)
class LibraryAnswers:
    """The library code that counts as `exercise`'s answer (dotted paths), and why."""
    exercise: str
    notebook: str
    library: tuple[str, ...]
    why: str


# One entry per graded function. Allowed (not listed): numpy, torch, validation helpers, and the
# references of *earlier* exercises whose idea is not this exercise's.
REGISTRY: tuple[LibraryAnswers, ...] = (
    LibraryAnswers("finite_horizon_objective", "00_mdp_recap",
                   ("pgcourse.tabular.mdp.policy_evaluation", "pgcourse.tabular.mdp.exact_objective",
                    "pgcourse.tabular.mdp.objective_from_policy", "pgcourse.tabular.mdp.enumerate_trajectories"),
                   "J(π) = μ·V_0 by backward induction; each of these computes J or V_0 for a given π "
                   "(TabularMDP itself only validates, and stays allowed)."),
    LibraryAnswers("iw_gradient_estimate", "01_importance_weighting",
                   ("pgcourse.tabular.policies.grad_log_tabular_softmax",
                    "pgcourse.tabular.policies.grad_log_tabular_softmax_batch",
                    "pgcourse.tabular.variance.score_weighted_terms"),
                   "no reference of this name exists (the estimators are notebook 01's own); the softmax "
                   "score helpers of notebook 02 would hand over ∇_θ P_θ = P_θ (e_x − P_θ). "
                   "importance.softmax and the validators stay allowed."),
    LibraryAnswers("score_function_gradient_estimate", "01_importance_weighting",
                   ("pgcourse.tabular.policies.grad_log_tabular_softmax",
                    "pgcourse.tabular.policies.grad_log_tabular_softmax_batch",
                    "pgcourse.tabular.variance.score_weighted_terms"),
                   "the score e_x − P_θ is this exercise's idea; score_weighted_terms(…).mean(0) is the whole "
                   "estimator."),
    LibraryAnswers("tabular_softmax_policy", "02_softmax_policies",
                   ("pgcourse.tabular.policies.tabular_softmax", "pgcourse.tabular.importance.softmax",
                    "pgcourse.tabular.policies.linear_softmax_policy"),
                   "a stable row-wise softmax is the exercise (torch.softmax is fine)."),
    LibraryAnswers("grad_log_tabular_softmax", "02_softmax_policies",
                   ("pgcourse.tabular.policies.grad_log_tabular_softmax",
                    "pgcourse.tabular.policies.grad_log_tabular_softmax_batch",
                    "pgcourse.tabular.estimators.grad_log_trajectory_likelihood"),
                   "the score e_s ⊗ (e_a − π_θ(·|s)); computing π_θ with a library softmax stays allowed."),
    LibraryAnswers("linear_softmax_policy", "02_softmax_policies",
                   ("pgcourse.tabular.policies.linear_softmax_policy", "pgcourse.tabular.policies.tabular_softmax",
                    "pgcourse.tabular.importance.softmax"),
                   "softmax of φθ; the softmax itself was the previous exercise, so the library's is not allowed."),
    LibraryAnswers("grad_log_linear_softmax", "02_softmax_policies",
                   ("pgcourse.tabular.policies.grad_log_linear_softmax_all_pairs",),
                   "φ(s, a) − Σ_a' π_θ(a'|s) φ(s, a'), which the library computes for every (s, a) at once; "
                   "the library's linear_softmax_policy stays allowed."),
    LibraryAnswers("neural_log_prob", "02_softmax_policies",
                   ("pgcourse.cartpole.log_probs_of", "pgcourse.llm.rl.sequence_log_prob",
                    "pgcourse.llm.model.picked_log_probs"),
                   "both compute log_softmax(net(s))[a] for any network; torch.log_softmax is fine."),
    LibraryAnswers("grad_log_trajectory_likelihood", "03_reinforce_derivation",
                   ("pgcourse.tabular.estimators.grad_log_trajectory_likelihood",
                    "pgcourse.tabular.policies.grad_log_tabular_softmax_batch",
                    "pgcourse.tabular.estimators.per_trajectory_reinforce_terms",
                    "pgcourse.tabular.estimators.log_trajectory_likelihood"),
                   "Σ_h ∇_θ ln π_θ(a_h|s_h): the batch score plus .sum(0) would be the whole exercise. "
                   "Notebook 02's single-step grad_log_tabular_softmax and tabular_softmax stay allowed."),
    LibraryAnswers("reinforce_gradient_estimate", "03_reinforce_derivation",
                   ("pgcourse.tabular.estimators.reinforce_gradient_estimate",
                    "pgcourse.tabular.estimators.per_trajectory_reinforce_terms",
                    "pgcourse.tabular.policies.grad_log_tabular_softmax_batch",
                    "pgcourse.tabular.variance.score_weighted_terms"),
                   "(1/N) Σ_i ∇_θ ln ρ_θ(τ_i) R(τ_i); the previous exercise's grad_log_trajectory_likelihood "
                   "(yours or the library's) stays allowed."),
    LibraryAnswers("reward_to_go", "04_reward_to_go",
                   ("pgcourse.tabular.returns.reward_to_go", "pgcourse.tabular.returns.discounted_reward_to_go",
                    "pgcourse.cartpole.reinforce_weights"),
                   "G_h = Σ_{t≥h} r_t (the discounted version with γ = 1 is the same thing)."),
    LibraryAnswers("discounted_reward_to_go", "04_reward_to_go",
                   ("pgcourse.tabular.returns.discounted_reward_to_go", "pgcourse.cartpole.reinforce_weights"),
                   "G_h = r_h + γ G_{h+1}."),
    LibraryAnswers("reward_to_go_gradient_estimate", "04_reward_to_go",
                   ("pgcourse.tabular.variance.score_weighted_terms", "pgcourse.tabular.variance.per_trajectory_terms"),
                   "score_weighted_terms(θ, s, a, G).mean(0) is the whole estimator; the batch score "
                   "(notebooks 02–03) and reward_to_go (the first exercise) stay allowed."),
    LibraryAnswers("baseline_gradient_estimate", "04_reward_to_go",
                   ("pgcourse.tabular.variance.score_weighted_terms", "pgcourse.tabular.variance.per_trajectory_terms"),
                   "as above, with G − b; variance.baseline_per_step (a lookup b(s_h)) stays allowed."),
    LibraryAnswers("reinforce_loss", "05_cartpole",
                   ("pgcourse.cartpole.reinforce_loss", "pgcourse.llm.rl.reinforce_lm_loss"),
                   "−(1/N) Σ mask·ln π·w (also in test_training); reinforce_weights and "
                   "discounted_reward_to_go stay allowed."),
    LibraryAnswers("sequence_log_prob", "06_llm_summarization",
                   ("pgcourse.llm.rl.sequence_log_prob", "pgcourse.llm.model.picked_log_probs",
                    "pgcourse.llm.model.token_log_probs"),
                   "Σ_t mask_t ln softmax(logits_t)[y_t]."),
    LibraryAnswers("kl_penalized_reward", "06_llm_summarization",
                   ("pgcourse.llm.rl.kl_penalized_reward",),
                   "score − β (ln π_θ − ln π_ref), detached."),
    LibraryAnswers("rloo_advantages", "06_llm_summarization",
                   ("pgcourse.llm.rl.rloo_advantages",),
                   "r_i minus the mean of the other k − 1 rewards, and the ValueError for k < 2."),
    LibraryAnswers("reinforce_lm_loss", "06_llm_summarization",
                   ("pgcourse.llm.rl.reinforce_lm_loss", "pgcourse.cartpole.reinforce_loss"),
                   "−mean(A·ln π); notebook 05's masked loss with a (N, 1) batch computes the same."),
    LibraryAnswers("rebel_loss", "06_llm_summarization",
                   ("pgcourse.llm.rebel.rebel_loss",),
                   "mean((Δ_1 − Δ_2 − η (r_1 − r_2))²)."),
)

BY_EXERCISE: dict[str, LibraryAnswers] = {entry.exercise: entry for entry in REGISTRY}


def _resolve(dotted: str) -> Callable:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


@functools.lru_cache(maxsize=None)
def registered_code(exercise: str) -> dict[CodeType, str]:
    """{code object: "module.qualname"} of the library code that counts as `exercise`'s answer.

    A name that is not a graded function (a check's own helper) has none; tests/test_cheats.py
    makes sure that every graded function is registered.
    """
    names: dict[CodeType, list[str]] = {}
    for dotted in (BY_EXERCISE[exercise].library if exercise in BY_EXERCISE else ()):
        try:
            fn = inspect.unwrap(_resolve(dotted))
        except (ImportError, AttributeError):   # moved in the library: tests/test_cheats.py names it
            continue
        names.setdefault(fn.__code__, [f"{fn.__module__}.{fn.__qualname__}"]).append(dotted)
    # One code object can have several names (importance.softmax is policies.tabular_softmax): the
    # hint names all of them, so that it names the one the student called.
    return {code: " = ".join(dict.fromkeys(found)) for code, found in names.items()}


RULE_PREFIX = "**Library code this exercise may not use:**"


def rule(exercise: str) -> str:
    """The one markdown line each exercise's statement carries (tests/test_library_rules.py compares).

    Generated from REGISTRY, so the text and the grader cannot disagree.
    """
    names = ", ".join(f"`{dotted}`" for dotted in BY_EXERCISE[exercise].library)
    return (f"{RULE_PREFIX} {names}. If one of them runs inside your `{exercise}`, even through a helper of "
            "yours, the question scores 0. Everything else in `pgcourse`, NumPy and PyTorch is allowed.")


def hint(library_name: str, exercise: str) -> str:
    """The one message a library answer gets (the grading report groups on its first words)."""
    return (f"Hint: library reference used: {library_name} ran inside your {exercise}; "
            "this exercise asks for your own code.")


class LibraryAnswerUsed(AssertionError):
    """Raised by a check when registered library code ran inside the student's function."""


def _is_library(code: CodeType) -> bool:
    path = code.co_filename
    return path.startswith(_LIBRARY_DIR) and not path.startswith(_CHECKS_DIR)


class Watch:
    """`with watch:` around a call of the student's function records registered code that ran.

    `watch.verdict()` then raises `LibraryAnswerUsed` with the hint. Reusable across calls; the
    first hit is kept. The profiler runs only inside the `with` block, in this thread.
    """

    def __init__(self, exercise: str, fn: Callable | None = None):
        self.exercise = exercise
        # A stand-in for a function that runs in another process (the grading channel) runs no library
        # code of the student's here: nothing to watch (`runs_elsewhere`).
        self.active = not getattr(fn, "runs_elsewhere", False)
        self.codes = registered_code(exercise)
        self.used: str | None = None
        self._previous: Any = None
        self._hook = self._profile          # one bound method, so that `sys.getprofile() is` works

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in self.codes and self.used is None:
            caller = frame.f_back
            if caller is None or not _is_library(caller.f_code) or self._handed_over(caller, frame.f_code):
                self.used = self.codes[frame.f_code]
        if self._previous is not None:
            self._previous(frame, event, arg)

    @staticmethod
    def _handed_over(caller: FrameType, code: CodeType) -> bool:
        """Library code that was given the registered function as an argument (a higher-order helper)."""
        return any(getattr(inspect.unwrap(v), "__code__", None) is code
                   for v in caller.f_locals.values() if callable(v))

    def __enter__(self) -> "Watch":
        if not self.active:
            return self
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self.active:
            return
        current = sys.getprofile()     # None: CPython dropped the hook (e.g. on a RecursionError)
        sys.setprofile(self._previous)
        self._previous = None
        if current is not None and current is not self._hook and self.used is None:
            self.used = "sys.setprofile (another profiler hides from the check what ran)"

    def verdict(self) -> None:
        if self.used is not None:
            raise LibraryAnswerUsed(hint(self.used, self.exercise))

    def wrap(self, fn: Callable, calls: int = 2) -> Callable:
        """`fn` with its first `calls` calls watched (enough: the same code runs every call); for
        checks that hand the student's function to a training loop. Raises `LibraryAnswerUsed` at once."""
        count = 0
        if not self.active or getattr(fn, "runs_elsewhere", False):
            return fn

        @functools.wraps(fn)
        def watched(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            if count >= calls:
                return fn(*args, **kwargs)
            count += 1
            try:
                with self:
                    return fn(*args, **kwargs)
            finally:
                self.verdict()
        return watched
