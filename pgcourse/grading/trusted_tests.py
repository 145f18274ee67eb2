"""Graded test cells run in the grading process, never in the student's kernel.

nbgrader scores an autograded test cell from its outputs: an error is 0 points, anything else full
marks. If the cell ran in the student's kernel, the student's code could decide those outputs (an
input transformer that turns every later cell into `pass` earns full marks). Here, each graded
test cell (nbgrader's `grade: true, solution: false`, its source restored by nbgrader from the
gradebook) is executed in *this* process, with the student's functions as stand-ins that call
them in the kernel and bring back plain data (`channel.RemoteFunction`). The checks, the hidden
tests and every expected value stay here; the kernel only ever sees the inputs of a call. The
outputs written into the notebook are this process's: the checks' printed lines, or the error's
message (never its traceback, which would quote the hidden tests' source).

    class SandboxedExecute(TrustedTests, nbgrader.preprocessors.Execute): ...

One bug costs one question: while a later exercise's function runs, each earlier exercise of the
same notebook that has a library reference (`REFERENCES`) is replaced in the kernel by a stub that
returns the reference's answer, so `reward_to_go_gradient_estimate` is judged with a correct
`reward_to_go`, whatever the student's `reward_to_go` does.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import importlib
import io
import os
import threading
import warnings
from typing import Any, Callable

from nbformat import NotebookNode
from nbclient.util import run_sync
from nbformat.v4 import new_output
from nbgrader.utils import is_grade, is_solution

from pgcourse.checks.integrity import REGISTRY
from pgcourse.grading.channel import KernelChannel, interrupt_process_group

# An earlier exercise's library reference, handed to the kernel's stub (same signature as the
# exercise). Left out: exercises whose result must carry a gradient back into the student's code
# (sequence_log_prob, reinforce_lm_loss; a stub's result is a plain value) and those without one.
REFERENCES: dict[str, str] = {
    "tabular_softmax_policy": "pgcourse.tabular.policies.tabular_softmax",
    "grad_log_tabular_softmax": "pgcourse.tabular.policies.grad_log_tabular_softmax",
    "linear_softmax_policy": "pgcourse.tabular.policies.linear_softmax_policy",
    "grad_log_trajectory_likelihood": "pgcourse.tabular.estimators.grad_log_trajectory_likelihood",
    "reward_to_go": "pgcourse.tabular.returns.reward_to_go",
    "discounted_reward_to_go": "pgcourse.tabular.returns.discounted_reward_to_go",
    "kl_penalized_reward": "pgcourse.llm.rl.kl_penalized_reward",
    "rloo_advantages": "pgcourse.llm.rl.rloo_advantages",
}
_OUTPUT_LOCK = threading.Lock()   # sys.stdout is one per process: one trusted cell at a time


def reference(exercise: str) -> Callable:
    module, _, name = REFERENCES[exercise].rpartition(".")
    return getattr(importlib.import_module(module), name)


def earlier_references(notebook: str, exercise: str) -> dict[str, Callable]:
    """The references of the exercises before `exercise` in `notebook` (REGISTRY is in notebook order)."""
    order = [entry.exercise for entry in REGISTRY if entry.notebook == notebook]
    if exercise not in order:
        return {}
    return {name: reference(name) for name in order[:order.index(exercise)] if name in REFERENCES}


def is_trusted_test(cell: NotebookNode) -> bool:
    """An autograded test cell: graded, not an answer, code."""
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


class StudentNamespace(dict):
    """The test cell's globals: any name the cell does not define is the student's, called in the kernel."""

    def __init__(self, channel: KernelChannel, stubs: dict[str, Callable]):
        super().__init__(__name__="__grader__", __builtins__=__builtins__)
        self.channel, self.stubs = channel, stubs

    def __missing__(self, name: str) -> Any:
        if name.startswith("__"):
            raise KeyError(name)
        if hasattr(builtins, name):   # globals that are not a plain dict are searched before builtins
            return getattr(builtins, name)
        function = self.channel.function(name, self.stubs)
        self[name] = function
        return function


def error_output(err: BaseException) -> dict:
    message = str(err).strip() or "a test of this question failed"
    name = type(err).__name__
    return {"output_type": "error", "ename": name, "evalue": message, "traceback": [f"{name}: {message}"]}


def run_test_cell(source: str, channel: KernelChannel, notebook: str, grade_id: str) -> list[dict]:
    """The outputs of one graded test cell, run here: its printed lines, then its error if it failed."""
    exercise = grade_id[len("test_"):] if grade_id.startswith("test_") else grade_id
    stubs = {} if grade_id == "test_training" else earlier_references(notebook, exercise)
    namespace = StudentNamespace(channel, stubs)
    printed, error = io.StringIO(), None
    with _OUTPUT_LOCK, contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exec(compile(source, f"<the grader's {grade_id}>", "exec"), namespace)
        except Exception as err:   # a failed check; never a traceback (it would quote hidden tests)
            error = err
    outputs = [{"output_type": "stream", "name": "stdout", "text": printed.getvalue()}] if printed.getvalue() else []
    return outputs + ([error_output(error)] if error is not None else [])


IN_KERNEL_SWITCH = "PGCOURSE_TESTS_IN_KERNEL"   # "1": the old way, for benchmarks/grading.py's baseline only


class TrustedTests:
    """Mixin for an nbclient `NotebookClient` (nbgrader's Execute): graded test cells run here.

    `benchmark_baseline` classes (the unsandboxed ForkedExecute) honour PGCOURSE_TESTS_IN_KERNEL=1,
    which sends test cells to the kernel as nbgrader does: what `benchmarks/grading.py` compares with.
    """

    benchmark_baseline = False

    def _notebook_name(self) -> str:
        resources = getattr(self, "resources", None) or {}
        return str(resources.get("unique_key") or resources.get("pgcourse_notebook") or "")

    def _kernel_process(self) -> Any:
        return getattr(getattr(self.km, "provisioner", None), "process", None)

    async def async_start_new_kernel_client(self) -> Any:
        """nbclient's client, and the channel for the test cells, both connected before any cell runs."""
        kc = await super().async_start_new_kernel_client()
        process = self._kernel_process()
        self.trusted_channel = KernelChannel(
            self.km.get_connection_info(session=False), interrupt_process_group(process.pid),
            timeout=float(self.timeout or 60), alive=lambda: process.poll() is None)
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)   # nbclient binds its own coroutine here

    async def _async_cleanup_kernel(self) -> None:
        channel, self.trusted_channel = getattr(self, "trusted_channel", None), None
        if channel is not None:
            await asyncio.to_thread(channel.close)
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        in_kernel = self.benchmark_baseline and os.environ.get(IN_KERNEL_SWITCH) == "1"
        if not is_trusted_test(cell) or in_kernel:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        grade_id = cell.metadata.nbgrader.get("grade_id", "")
        cell.outputs = []
        channel = self.trusted_channel
        channel.begin(float(self.timeout or 60))
        try:
            outputs = await asyncio.to_thread(run_test_cell, cell.source, channel, self._notebook_name(), grade_id)
        finally:
            await asyncio.to_thread(channel.end)
        cell.outputs = [new_output(**o) for o in outputs]
        self.code_cells_executed += 1   # nbclient's own count (the kernel's does not move: it ran nothing)
        cell.execution_count = execution_count or self.code_cells_executed
        return cell

    execute_cell = run_sync(async_execute_cell)   # nbclient binds its own coroutine here, not an override
