"""The machinery behind the visible checks: call the student's function, compare, explain.

A check runs a few named cases. On the first failure it raises `AssertionError` with a message a
student can act on: the case, the input, the expected and actual values, and, when the actual
value matches a known mistake, a hint ("right shape, wrong sign: are you ascending?"). On success
it prints one ✓ line. Nothing is written to stderr: warnings raised by the student's code are
silenced here (nbgrader scores any cell that writes to stderr as 0). Every call of the student's
function is watched: if library code that counts as the exercise's answer runs inside it
(`pgcourse.checks.integrity`), the check fails with one hint naming it.
"""

from __future__ import annotations

import contextlib
import io
import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from pgcourse.checks.integrity import LibraryAnswerUsed, Watch

if TYPE_CHECKING:   # torch is imported where a check needs it: checks of NumPy answers run without it
    import torch

# A known mistake: a description and the value such a mistake would produce.
Mistake = tuple[str, Any]

# (rtol, atol relative to the largest expected value) for results of lower precision than float64:
# a few hundred ulps, far below the size of any mistake the checks diagnose.
LOW_PRECISION = {np.dtype(np.float32): (2e-5, 2e-6), np.dtype(np.float16): (5e-3, 5e-4)}


def _fmt(value: Any) -> str:
    if isinstance(value, np.ndarray) or hasattr(value, "detach"):
        arr = np.asarray(value.detach() if hasattr(value, "detach") else value)
        return np.array2string(arr, precision=4, suppress_small=True, max_line_width=90, threshold=40)
    return repr(value)


def _matching(actual: np.ndarray, mistakes: Iterable[Mistake], rtol: float, atol: float) -> list[str]:
    """The descriptions of the known mistakes that produce `actual` (each once)."""
    found = []
    for description, wrong in mistakes:
        wrong_arr = np.asarray(wrong.detach() if hasattr(wrong, "detach") else wrong, dtype=float)
        if (wrong_arr.shape == actual.shape and np.all(np.isfinite(wrong_arr))
                and np.allclose(actual, wrong_arr, rtol=rtol, atol=atol)):
            found.append(description)
    return list(dict.fromkeys(found))


def describe_error(err: BaseException) -> str:
    """`ValueError: k must be ≥ 2`, or, for an error without a message (a bare `assert`), what failed where."""
    text = str(err)
    if text:
        return f"{type(err).__name__}: {text}"
    frames = traceback.extract_tb(err.__traceback__)
    line = (frames[-1].line or "").strip() if frames else ""
    where = f" at `{line}`" if line else ""
    if isinstance(err, AssertionError):
        return (f"AssertionError{where}: an `assert` in your code failed on this input (it has no message; "
                "write `assert condition, \"what went wrong\"` to see more)")
    return f"{type(err).__name__}{where} (an error without a message)"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings and stderr of the code inside (nbgrader scores a cell with stderr as 0)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Tiny tensors: one torch thread is faster and reproducible; the previous count is restored."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def call_each(fn: Callable, calls: list[tuple]) -> list:
    """`[fn(*args) for args in calls]`, in one round trip when `fn` runs in the student's kernel."""
    if hasattr(fn, "map"):
        return fn.map([(tuple(args), {}) for args in calls])
    return [fn(*args) for args in calls]


class Check:
    """One exercise's check: `Check("reward_to_go", fn)` then `.call`, `.expect_close`, `.done()`."""

    def __init__(self, name: str, fn: Callable):
        if not callable(fn):
            raise AssertionError(f"{name} should be a function, but it is {type(fn).__name__}.")
        self.name = name
        self.fn = fn
        self.passed = 0
        self.watch = Watch(name, fn)   # which library code counts as this exercise's answer

    def fail(self, case: str, message: str) -> None:
        raise AssertionError(f"{self.name} fails on case '{case}':\n{message}")

    def call(self, case: str, *args: Any, **kwargs: Any) -> Any:
        """Call the student's function quietly and watched; turn its exceptions into a readable failure."""
        try:
            with quiet(), self.watch:
                result = self.fn(*args, **kwargs)
        except LibraryAnswerUsed:
            raise
        except NotImplementedError:
            raise AssertionError(self._not_implemented()) from None
        except Exception as err:  # the student's own error, shown with the case that caused it
            self.watch.verdict()
            raise AssertionError(
                f"{self.name} raised {describe_error(err)}\non case '{case}' "
                f"with arguments:\n{self._describe(args, kwargs)}"
            ) from err
        self.watch.verdict()
        return result

    def _not_implemented(self) -> str:
        return f"{self.name} is not implemented yet: replace `raise NotImplementedError()` with your code."

    def call_many(self, case: str, calls: list[tuple]) -> list:
        """`[self.call(case, *args) for args in calls]`; a function that runs in the student's kernel
        while grading (`grading.channel.RemoteFunction`) is called once for all of them."""
        if not hasattr(self.fn, "map"):
            return [self.call(case, *args) for args in calls]
        try:
            return self.fn.map([(tuple(args), {}) for args in calls])
        except LibraryAnswerUsed:
            raise
        except NotImplementedError:
            raise AssertionError(self._not_implemented()) from None
        except Exception as err:
            raise AssertionError(f"{self.name} raised {describe_error(err)}\non case '{case}'") from err

    def expect_raises(self, case: str, exception: type[BaseException], *args: Any, hint: str = "",
                      **kwargs: Any) -> None:
        """The function must reject bad input with `exception` (e.g. ValueError)."""
        try:
            with quiet(), self.watch:
                result = self.fn(*args, **kwargs)
        except NotImplementedError:
            raise AssertionError(self._not_implemented()) from None
        except exception:
            self.watch.verdict()
            self.passed += 1
            return
        except Exception as err:
            self.watch.verdict()
            self.fail(case, f"expected {exception.__name__}, but it raised {describe_error(err)}. {hint}")
        self.watch.verdict()
        self.fail(case, f"expected a {exception.__name__} for this bad input, but it returned "
                        f"{_fmt(result)} instead. {hint}")

    def expect_tensor(self, case: str, out: Any, shape: tuple[int, ...]) -> torch.Tensor:
        """`out` must be a torch tensor of `shape` (training loops need tensors, not floats)."""
        import torch

        if not isinstance(out, torch.Tensor):
            self.fail(case, f"expected a torch tensor of shape {tuple(shape)}, got {type(out).__name__}: stay in "
                            "torch (no .item(), no NumPy), the training loop needs tensors.")
        if tuple(out.shape) != tuple(shape):
            self.fail(case, f"expected shape {tuple(shape)}, got {tuple(out.shape)}.")
        return out

    def expect_shape(self, case: str, actual: Any, shape: tuple[int, ...]) -> None:
        got = tuple(np.shape(actual.detach() if hasattr(actual, "detach") else actual))
        if got != tuple(shape):
            self.fail(case, f"expected a result of shape {tuple(shape)}, got shape {got}.")
        self.passed += 1

    def expect_close(self, case: str, actual: Any, expected: Any, *, rtol: float = 1e-6,
                     atol: float = 1e-8, mistakes: Iterable[Mistake] = (), context: str = "",
                     diagnose: Iterable[tuple[str, Callable[[], tuple[Any, Iterable[Mistake]]]]] = ()) -> None:
        """Compare with `np.allclose`; on failure name the mistake, but only one that this value singles out.

        A hint is given when exactly one known mistake produces the actual value. When several do (a
        symmetric hand case), no hint comes from this case: `diagnose` lists other cases, as
        (name, run) with run() → (the student's result there, that case's mistakes), tried in order
        until one of them singles out a mistake. A float32 (or float16) result is compared with a
        tolerance that fits its precision.
        """
        if hasattr(actual, "detach"):
            actual = actual.detach().cpu().numpy()
        if actual is None:
            self.fail(case, "it returned None: did you forget `return`?")
        expected_arr = np.asarray(expected, dtype=float)
        dtype = np.asarray(actual).dtype
        if dtype in LOW_PRECISION:
            low_rtol, low_atol = LOW_PRECISION[dtype]
            rtol, atol = max(rtol, low_rtol), max(atol, low_atol * max(1.0, float(np.max(np.abs(expected_arr), initial=0))))
        actual_arr = np.asarray(actual, dtype=float)
        if actual_arr.shape != expected_arr.shape:
            self.fail(case, f"expected shape {expected_arr.shape}, got shape {actual_arr.shape}.\n"
                            f"expected: {_fmt(expected_arr)}\n  actual: {_fmt(actual_arr)}")
        finite = bool(np.all(np.isfinite(actual_arr)))
        if finite and np.allclose(actual_arr, expected_arr, rtol=rtol, atol=atol):
            self.passed += 1
            return
        if finite:
            message = f"expected: {_fmt(expected_arr)}\n  actual: {_fmt(actual_arr)}"
            if context:
                message = f"{context}\n{message}"
        else:
            message = f"the result contains NaN or inf: {_fmt(actual_arr)}. {context}".rstrip()
        matching = _matching(actual_arr, mistakes, rtol, atol) if finite else []
        if len(matching) == 1:
            self.fail(case, f"{message}\nHint: {matching[0]}")
        if finite and not matching and np.any(expected_arr != 0) and np.allclose(actual_arr, -expected_arr, rtol=rtol,
                                                                                   atol=atol):
            self.fail(case, f"{message}\nHint: right size, wrong sign. Check the sign of each term.")
        for other_case, run in diagnose:   # this case cannot tell the mistakes apart: ask another
            try:
                other_actual, other_mistakes = run()
            except LibraryAnswerUsed:
                raise
            except AssertionError:          # the function fails there in another way: no diagnosis
                continue
            if hasattr(other_actual, "detach"):
                other_actual = other_actual.detach().cpu().numpy()
            try:
                other_arr = np.asarray(other_actual, dtype=float)
            except (TypeError, ValueError):
                continue
            other = _matching(other_arr, other_mistakes, rtol, atol)
            if len(other) == 1:
                self.fail(case, f"{message}\nHint: {other[0]}\n(Your result on case '{other_case}', where the "
                                "common mistakes give different values, is exactly what this mistake gives.)")
        self.fail(case, message)

    def done(self) -> None:
        print(f"✓ {self.name}: all {self.passed} checks passed.")

    @staticmethod
    def _describe(args: tuple, kwargs: dict) -> str:
        parts = [f"  arg {i}: {_fmt(a)}" for i, a in enumerate(args)]
        parts += [f"  {k} = {_fmt(v)}" for k, v in kwargs.items()]
        return "\n".join(parts)
