"""The channel between the grading process and a student's kernel (issue 22), tested on a real kernel.

Graded test cells run in the grading process (`pgcourse.grading.trusted_tests`); the student's
functions are called in the kernel and only plain data comes back (`pgcourse.grading.channel`).
Here: what comes back is decoded strictly; values, gradients, in-place changes and errors survive
the trip; stubs answer for earlier exercises; a kernel that stops answering fails the call; and
every solution test cell can run apart from its notebook (it imports what it uses).
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import time

import numpy as np
import pytest
import torch
from jupyter_client.manager import start_new_kernel

import submissions as S
from pgcourse.checks.integrity import REGISTRY
from pgcourse.grading import channel as C
from pgcourse.grading.trusted_tests import REFERENCES, earlier_references, is_trusted_test, reference

STUDENT_CODE = '''
import numpy as np, torch
def cumsum(x):
    return np.cumsum(x, -1)
def square_loss(x, w):
    return (w * x ** 2).sum()
def scale_in_place(x):
    x *= 2
    return None
def picky(x):
    raise ValueError("x must be positive")
class MyError(KeyError):
    pass
def own_error(x):
    raise MyError("mine")
def bare_assert(x):
    assert x > 5
def uses_earlier(r):
    return reward_to_go(r) + 1
def reward_to_go(r):
    return np.zeros_like(r)          # wrong on purpose: the stub must replace it
def liar(x):
    class Everything:
        def __eq__(self, other):
            return True
    return Everything()
def noisy(x):
    print("✓ all checks passed")
    return x
'''


@contextlib.contextmanager
def fresh_kernel(code: str, timeout: float):
    """A new kernel that has run `code`, and a channel to it (as the grader makes one: at its start)."""
    km, kc = start_new_kernel(kernel_name="python3")
    process = km.provisioner.process
    channel = C.KernelChannel(km.get_connection_info(session=False), C.interrupt_process_group(process.pid),
                              timeout=timeout, alive=lambda: process.poll() is None)
    try:
        channel.end()
        reply = kc.execute_interactive(code, timeout=30)
        assert reply["content"]["status"] == "ok"
        yield kc, channel
        channel.close()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_new_kernel(kernel_name="python3", extra_arguments=["--HistoryManager.hist_file=:memory:"])
    reply = kc.execute_interactive(STUDENT_CODE, timeout=60)
    assert reply["content"]["status"] == "ok"
    channel = C.KernelChannel(km.get_connection_info(session=False), C.interrupt_process_group(km.provisioner.pid),
                              timeout=30)
    yield km, kc, channel
    channel.close()
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_values_come_back_as_plain_data(kernel):
    _, _, channel = kernel
    x = np.arange(6.0).reshape(2, 3)
    out = channel.function("cumsum")(x)
    assert type(out) is np.ndarray and out.dtype == np.float64 and np.array_equal(out, np.cumsum(x, -1))
    assert channel.function("cumsum").map([((x,), {}), ((x[:1],), {})])[1].shape == (1, 3)
    assert channel.function("noisy")(3.5) == 3.5          # what the function prints goes nowhere


def test_an_object_that_equals_everything_arrives_as_an_opaque_value(kernel):
    out = kernel[2].function("liar")(1)
    assert isinstance(out, C.Opaque) and out != out and not np.allclose(np.asarray(out, dtype=object) == 1, True)


def test_a_loss_keeps_its_gradient_which_the_kernel_computes(kernel):
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([0.5, 2.0, -1.0], dtype=torch.float64)
    loss = kernel[2].function("square_loss")(x, w)
    assert loss.requires_grad and torch.isclose(loss, (w * x ** 2).sum())
    loss.backward()
    assert torch.allclose(x.grad, 2 * w * x.detach())    # ∂/∂x Σ w x² = 2 w x


def test_inputs_changed_in_place_are_changed_here_too(kernel):
    x = np.array([1.0, 2.0])
    assert kernel[2].function("scale_in_place")(x) is None
    assert np.array_equal(x, [2.0, 4.0])
def test_errors_keep_their_name_and_builtin_class(kernel):
    channel = kernel[2]
    with pytest.raises(ValueError, match="x must be positive"):
        channel.function("picky")(1)
    with pytest.raises(KeyError) as caught:
        channel.function("own_error")(1)
    assert type(caught.value).__name__ == "MyError"
    with pytest.raises(AssertionError, match="x > 5"):
        channel.function("bare_assert")(1)
    with pytest.raises(NameError, match="not defined in your notebook"):
        channel.function("nowhere")(1)


def test_an_earlier_exercise_is_answered_by_its_reference_while_a_later_one_runs(kernel):
    r = np.array([[1.0, 2.0, 3.0]])
    with_stub = kernel[2].function("uses_earlier", {"reward_to_go": reference("reward_to_go")})
    assert np.array_equal(with_stub(r), [[7.0, 6.0, 4.0]])
    assert np.array_equal(kernel[2].function("uses_earlier")(r), [[1.0, 1.0, 1.0]])   # its own, outside the call


def test_a_kernel_that_stops_answering_fails_every_call():
    code = "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\ndef f(x):\n    return x\n"
    with fresh_kernel(code, timeout=20) as (_, channel):
        channel.begin(20)
        with pytest.raises(C.KernelCallError, match="stopped answering"):
            channel.function("f")(1)
        with pytest.raises(C.KernelCallError):
            channel.function("f")(2)


@pytest.mark.parametrize("bad", [
    {"t": "ndarray", "dtype": "|O", "shape": [1], "b": ""},                               # object arrays
    {"t": "ndarray", "dtype": "<f8", "shape": [3], "b": base64.b64encode(b"\0" * 16).decode()},  # wrong length
    {"t": "ndarray", "dtype": "<f8", "shape": [-1], "b": ""},
    {"t": "tensor", "dtype": "<f8", "torch_dtype": "os", "shape": [0], "b": ""},
    {"t": "int", "v": "9" * 500},
    {"t": "pickle", "v": "gASVAAAAAAAAAAA="},
    {"t": "list", "v": [{"t": "list", "v": [{"t": "list", "v": [{"t": "list", "v": [{"t": "list", "v": []}]}]}]}]},
    "not a dict",
])
def test_anything_malformed_is_refused(bad):
    with pytest.raises(C.KernelCallError):
        C.decode(bad)


def test_exceptions_from_the_kernel_never_become_base_exceptions():
    for mro in (["KeyboardInterrupt", "BaseException", "object"], ["SystemExit", "BaseException", "object"]):
        err = C.student_exception({"type": mro[0], "mro": mro, "message": "bye"})
        assert isinstance(err, Exception)
    assert isinstance(C.student_exception({"type": "NotImplementedError", "mro": ["NotImplementedError"]}),
                      NotImplementedError)


def test_every_reference_has_the_exercises_signature_and_comes_before_its_users():
    import inspect
    for exercise in REFERENCES:
        solution = next(c.source for p in S.SOLUTIONS.glob("*.ipynb") for c in S.read(p).cells
                        if S.grade_id(c) == exercise)
        tree = next(n for n in ast.parse(solution).body if isinstance(n, ast.FunctionDef) and n.name == exercise)
        assert [a.arg for a in tree.args.args] == list(inspect.signature(reference(exercise)).parameters), exercise
    assert set(earlier_references("04_reward_to_go", "baseline_gradient_estimate")) == {
        "reward_to_go", "discounted_reward_to_go"}
    assert earlier_references("04_reward_to_go", "reward_to_go") == {}


def _free_names(source: str) -> set[str]:
    """Names a cell reads but neither assigns, imports nor gets from builtins."""
    tree = ast.parse(source)
    bound = {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
             for a in n.args + n.kwonlyargs + n.posonlyargs + [x for x in (n.vararg, n.kwarg) if x]}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return read - bound - set(dir(builtins))


@pytest.mark.parametrize("path", sorted(S.SOLUTIONS.glob("*.ipynb")) + [S.DRILL_SOLUTIONS / f"{S.DRILL}.ipynb"],
                         ids=lambda p: p.stem)
def test_every_test_cell_runs_apart_from_its_notebook(path):
    """A graded test cell runs in the grading process: every name it does not define must be one of the
    notebook's graded functions (the student's, called in the kernel), never a notebook variable."""
    exercises = {e.exercise for e in REGISTRY if e.notebook == path.stem} | {"centred", "unit"}
    for cell in S.read(path).cells:
        if is_trusted_test(cell):
            assert _free_names(cell.source) <= exercises, (S.grade_id(cell), _free_names(cell.source) - exercises)


def test_a_function_that_never_returns_fails_within_the_tests_time_and_frees_the_kernel():
    with fresh_kernel("def forever(x):\n    while True:\n        pass\n", timeout=3) as (kc, channel):
        channel.begin(3)
        start = time.monotonic()
        with pytest.raises(C.KernelCallError, match="did not return within"):
            channel.function("forever")(1)
        channel.end()
        assert time.monotonic() - start < 15
        reply = kc.execute_interactive("1 + 1", timeout=20)     # the loop ended: the kernel runs cells again
        assert reply["content"]["status"] == "ok"


def test_tensors_come_back_even_when_torch_was_first_imported_by_the_call():
    with fresh_kernel("def as_tensor(x):\n    import torch\n    return torch.as_tensor(x) * 2\n", 30) as (_, channel):
        channel.begin(30)
        out = channel.function("as_tensor")([1.0, 2.0])
        assert isinstance(out, torch.Tensor) and torch.equal(out, torch.tensor([2.0, 4.0]))


def test_a_kernel_that_dies_during_a_call_fails_it_at_once():
    with fresh_kernel("def exits(x):\n    import os\n    os._exit(0)\n", timeout=60) as (_, channel):
        channel.begin(60)
        start = time.monotonic()
        with pytest.raises(C.KernelCallError, match="died"):
            channel.function("exits")(1)
        assert time.monotonic() - start < 10        # not the test's 60 s
