"""The grading process's end of the channel to a student's kernel: call a function there, get data back.

    channel = KernelChannel(connection_info, interrupt, timeout=60)
    reward_to_go = channel.function("reward_to_go")        # a stand-in, called here like the student's
    G = reward_to_go(np.array([[1.0, 2.0, 3.0]]))          # → a plain ndarray, decoded here
    channel.close()

The stand-in (`RemoteFunction`) sends its arguments to the kernel, where `kernel_calls.serve` calls
the student's function, and returns what came back, as data: NumPy arrays and torch tensors rebuilt
from dtype, shape and bytes (never unpickled), numbers, strings, lists, tuples, None. Anything else
arrives as an `Opaque` value that equals nothing, so an object that "equals everything" is worth
nothing here. A tensor that carries a gradient in the kernel carries one here too: its backward
asks the kernel for ∂⟨g, result⟩/∂(inputs) with the g that autograd hands it (`remote_gradient`),
so a loss is judged by its value and its gradient with respect to inputs the grading process chose.

An earlier exercise that the called function uses (`stubs`) is replaced in the kernel, for that
call only, by a stub that asks this side for the reference's answer: one bug costs one question.
The student's exceptions come back as exceptions of the same name (a subclass of the builtin
their class derives from, so `pytest.raises(ValueError)`-style checks still work); a kernel that
does not answer, answers something unreadable or dies makes the call fail, never pass.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import zmq
from jupyter_client import BlockingKernelClient

from pgcourse.grading import kernel_calls
from pgcourse.grading.channel_data import (KernelCallError, Opaque, decode, gradient_leaves, packed,  # noqa: F401
                                            student_exception)

MAX_REPLY_BYTES = 64 << 20     # a reply larger than this is dropped by ZeroMQ: the call then fails
SERVE_CELL = """def _pgcourse_channel():
    namespace = {{"get_ipython": get_ipython}}
    exec({source!r}, namespace)
    try:
        from pgcourse.checks.integrity import Watch
    except Exception:
        Watch = None
    namespace["serve"](library=Watch)
_pgcourse_channel()
"""


class KernelChannel:
    """A client of the kernel's shell and stdin channels that runs `kernel_calls.serve` there.

    Made when the kernel starts, before any of the student's code runs, and never reconnected: its
    sockets are the kernel's, not whatever a path names later (the kernel's folder is its to change).
    `begin(timeout)` and `end()` bracket one test cell: one time budget for all its calls.
    """

    def __init__(self, connection_info: dict, interrupt: Callable[[], None], timeout: float = 60.0,
                 alive: Callable[[], bool] = lambda: True):
        self.context = zmq.Context()
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_REPLY_BYTES)
        self.context.setsockopt(zmq.RECONNECT_IVL, -1)
        self.client = BlockingKernelClient(context=self.context)
        self.client.load_connection_info(connection_info)
        self.client.start_channels(iopub=False, hb=False, control=False)
        self.interrupt, self.alive = interrupt, alive
        self.serving: str | None = None      # the msg_id of the running serve loop
        self.begin(timeout)

    def begin(self, timeout: float) -> None:
        """A new test cell: `timeout` seconds for all of its calls, like a cell's."""
        self.timeout, self.deadline = timeout, time.monotonic() + timeout
        self.broken: str | None = None       # why this cell's calls cannot be made any more

    # ---- the loop in the kernel -----------------------------------------------------------------
    def _await(self, deadline: float) -> dict:
        """The next prompt of the serve loop, decoded; a KernelCallError when the loop ended or hung."""
        poller = zmq.Poller()
        stdin, shell = self.client.stdin_channel, self.client.shell_channel
        poller.register(stdin.socket, zmq.POLLIN)
        poller.register(shell.socket, zmq.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._give_up(f"your functions did not return within the test's {self.timeout:.0f} s")
            events = dict(poller.poll(min(left, 1.0) * 1000))
            if not events and not self.alive():
                self.serving = None
                self.broken = "your kernel died (it exited, or was killed)"
                raise KernelCallError(self.broken)
            if shell.socket in events:
                reply = shell.get_msg(timeout=0)
                if reply["parent_header"].get("msg_id") == self.serving:
                    self.serving = None
                    self.broken = ("your kernel stopped answering the grader's calls (something in your "
                                   "notebook changes how its cells run, or the kernel ended)")
                    raise KernelCallError(self.broken)
            if stdin.socket in events:
                msg = stdin.get_msg(timeout=0)
                prompt = msg["content"].get("prompt", "") if msg["msg_type"] == "input_request" else ""
                if not isinstance(prompt, str) or not prompt.startswith(kernel_calls.PROMPT):
                    self.client.input("\x04")   # the student's own input(): an EOFError there
                    continue
                try:
                    answer = json.loads(prompt[len(kernel_calls.PROMPT):])
                    if isinstance(answer, dict):
                        return answer
                except (ValueError, RecursionError):
                    pass
                self._give_up("your kernel sent back something that is not a result")

    def _give_up(self, why: str) -> None:
        self.broken = why
        try:
            self.interrupt()
        except OSError:
            pass
        raise KernelCallError(why)

    def _start(self, deadline: float) -> None:
        if self.broken:
            raise KernelCallError(self.broken)
        if self.serving is None:
            source = Path(kernel_calls.__file__).read_text()
            self.serving = self.client.execute(SERVE_CELL.format(source=source), silent=True,
                                               store_history=False, allow_stdin=True)
            if not self._await(deadline).get("ready"):
                self._give_up("your kernel did not start the grader's calls")

    def ask(self, request: dict, callback: Callable[[dict], dict] | None = None) -> dict:
        """One request to the loop; callbacks from stubs are answered until the reply comes."""
        deadline = self.deadline
        self._start(deadline)
        self.client.input(json.dumps(request))
        while True:
            answer = self._await(deadline)
            if "callback" not in answer:
                return answer
            self.client.input(json.dumps(callback(answer) if callback else {"error": "no stub expected"}))

    def function(self, name: str, stubs: dict[str, Callable] | None = None) -> "RemoteFunction":
        return RemoteFunction(self, name, stubs or {})

    def end(self) -> None:
        """Ends the kernel's loop (after a timeout: once the interrupted call has answered), so that the
        kernel is free for the notebook's next cell."""
        if self.serving is not None and self.alive():
            try:
                if self.broken:   # the loop drops replies sent before it asks: wait for it to ask
                    self.broken, self.deadline = None, time.monotonic() + 5
                    self._await(self.deadline)
                self.client.input(json.dumps({"op": "end"}))
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    reply = self.client.shell_channel.get_msg(timeout=max(0.01, deadline - time.monotonic()))
                    if reply["parent_header"].get("msg_id") == self.serving:
                        break
            except Exception:   # the kernel is gone or silent: nothing more to end
                pass
        self.serving = None

    def close(self) -> None:
        self.end()
        self.client.stop_channels()
        self.context.destroy(linger=0)


def _callback(stubs: dict[str, Callable], answer: dict) -> dict:
    """The reference's answer to a stubbed earlier exercise, called by the student's code in the kernel."""
    name = answer.get("callback")
    if name not in stubs:
        return {"error": f"{name} is not a stub"}
    try:
        args = [decode(a) for a in answer.get("args", [])]
        kwargs = {str(k): decode(v) for k, v in dict(answer.get("kwargs", {})).items()}
        return {"value": packed(stubs[name](*args, **kwargs))}
    except Exception as err:
        return {"error": f"{type(err).__name__}: {err}"}


class RemoteFunction:
    """Stands in for the student's function `name` in the grading process (see the module's docstring)."""

    runs_elsewhere = True       # `integrity.Watch` does not watch it: no library code of the student's runs here

    def __init__(self, channel: KernelChannel, name: str, stubs: dict[str, Callable]):
        self.channel, self.__name__, self.stubs = channel, name, stubs

    def __repr__(self) -> str:
        return f"<your {self.__name__}, called in your kernel>"

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise AttributeError(f"`{self.__name__}.{attribute}`: a graded test cell runs in the grading process, apart "
                             f"from the notebook, so every name it does not define is the student's function; "
                             f"import `{self.__name__}` in the test cell if it is a module or a library object")

    def __reduce__(self) -> Any:
        raise TypeError(f"the student's {self.__name__} cannot be handed to their own kernel as an argument")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from pgcourse.checks.integrity import LibraryAnswerUsed, hint

        answer = self.channel.ask({"op": "call", "name": self.__name__, "args": packed((args, kwargs)),
                                   "stubs": sorted(self.stubs)}, lambda a: _callback(self.stubs, a))
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            raise student_exception(error)
        if "library" in answer:
            raise LibraryAnswerUsed(hint(str(answer["library"])[:300], self.__name__))
        if "result" not in answer:
            raise KernelCallError("your kernel sent back no result")
        result = decode(answer["result"])
        for index, value in dict(answer.get("mutated", {})).items():   # the function changed an input in place
            _copy_into(args[int(index)], decode(value))
        if answer["result"].get("t") == "tensor" and answer["result"].get("requires_grad"):
            leaves = gradient_leaves(args, kwargs)
            if leaves:
                return remote_gradient().apply(result, self._vjp(int(answer.get("id", -1)), leaves), *leaves)
        return result

    def map(self, calls: list[tuple[tuple, dict]]) -> list:
        """[self(*args, **kwargs) for args, kwargs in calls], in one round trip (inputs changed in place
        are not copied back; results come back without a gradient)."""
        from pgcourse.checks.integrity import LibraryAnswerUsed, hint

        answer = self.channel.ask({"op": "map", "name": self.__name__, "args": packed(list(calls)),
                                   "stubs": sorted(self.stubs)}, lambda a: _callback(self.stubs, a))
        if "error" in answer:
            raise student_exception(answer["error"] if isinstance(answer["error"], dict) else {})
        if "library" in answer:
            raise LibraryAnswerUsed(hint(str(answer["library"])[:300], self.__name__))
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(calls):
            raise KernelCallError("your kernel sent back the wrong number of results")
        return [decode(r) for r in results]

    def _vjp(self, handle: int, leaves: list) -> Callable:
        def vjp(grad: Any) -> list:
            answer = self.channel.ask({"op": "vjp", "id": handle, "grad": packed(grad.detach())})
            if "error" in answer:
                raise student_exception(answer["error"] if isinstance(answer["error"], dict) else {})
            grads = [None if g.get("t") == "none" else decode(g) for g in answer.get("grads", [])]
            if len(grads) != len(leaves):
                raise KernelCallError("your kernel sent back gradients for the wrong inputs")
            out = []
            for leaf, g in zip(leaves, grads):
                if g is not None and tuple(g.shape) != tuple(leaf.shape):
                    raise KernelCallError(f"a gradient of shape {tuple(g.shape)} for an input of shape {tuple(leaf.shape)}")
                out.append(None if g is None else g.to(leaf.dtype))
            return out
        return vjp


def _copy_into(target: Any, value: Any) -> None:
    import torch

    try:
        if isinstance(target, torch.Tensor) and isinstance(value, torch.Tensor) and target.shape == value.shape:
            with torch.no_grad():
                target.copy_(value)
        elif isinstance(target, np.ndarray) and isinstance(value, np.ndarray) and target.shape == value.shape:
            np.copyto(target, value, casting="unsafe")
    except (TypeError, ValueError, RuntimeError):
        pass


@functools.cache
def remote_gradient() -> Any:
    """The autograd Function for a kernel's result (made on first use: torch only when a tensor comes back)."""
    import torch

    class RemoteGradient(torch.autograd.Function):
        """The kernel's result, with a backward that asks the kernel for the vector-Jacobian product."""

        @staticmethod
        def forward(ctx, value, vjp, *leaves):
            ctx.vjp = vjp
            return value.clone()

        @staticmethod
        def backward(ctx, grad):
            return (None, None, *ctx.vjp(grad))

    return RemoteGradient


def interrupt_process_group(pid: int) -> Callable[[], None]:
    """SIGINT to a kernel's process group (how jupyter_client interrupts a local kernel)."""
    def interrupt() -> None:
        try:
            os.killpg(pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)
    return interrupt
