"""What crosses the grading channel (`channel`): plain data from the kernel, in; the student's errors, out.

`decode` rebuilds what the kernel sent (`kernel_calls.serve`'s `encode`) and refuses anything else:
arrays and tensors from a dtype on an allowlist, a shape and exactly that many bytes; numbers,
strings, lists and tuples 4 levels deep at most; `Opaque` for everything that is not plain data.
Nothing from the kernel is ever unpickled. What goes *to* the kernel is a pickle (`packed`): data
the grading process made, for the kernel to read.
"""

from __future__ import annotations

import base64
import builtins
import pickle
from typing import Any

import numpy as np

_DTYPES = {np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                     "float16", "float32", "float64", "complex64", "complex128")}
_TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
                 "complex64", "complex128")


class KernelCallError(AssertionError):
    """The kernel did not answer a call with a readable result (it died, hung, or sent nonsense)."""


class Opaque:
    """A value the kernel returned that is not plain data: equal to nothing, its type name kept."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


def decode(value: Any, depth: int = 0) -> Any:
    """Plain data from what the kernel sent; a `KernelCallError` for anything malformed."""
    try:
        kind = value["t"]
        if kind in ("ndarray", "npscalar", "tensor"):
            if value["dtype"] not in _DTYPES:
                raise ValueError(f"dtype {value['dtype']!r}")
            shape = tuple(int(n) for n in value["shape"])
            if any(n < 0 for n in shape) or len(shape) > 32:
                raise ValueError(f"shape {shape}")
            array = np.frombuffer(base64.b64decode(value["b"], validate=True), dtype=np.dtype(value["dtype"]))
            array = array.reshape(shape).copy()
            if kind == "npscalar":
                return array[()]
            if kind == "ndarray":
                return array
            import torch

            if value["torch_dtype"] not in _TORCH_DTYPES:
                raise ValueError(f"torch dtype {value['torch_dtype']!r}")
            return torch.from_numpy(array).to(getattr(torch, value["torch_dtype"]))
        if kind == "float":
            return float.fromhex(value["v"])
        if kind == "int":
            if len(value["v"]) > 400:
                raise ValueError("an integer of over 400 digits")
            return int(value["v"])
        if kind == "bool":
            return bool(value["v"])
        if kind == "str":
            return str(value["v"])[:2000]
        if kind == "none":
            return None
        if kind in ("list", "tuple") and depth < 4:
            items = [decode(v, depth + 1) for v in value["v"]]
            return items if kind == "list" else tuple(items)
        if kind == "other":
            return Opaque(str(value["type"])[:100])
        raise ValueError(f"kind {kind!r}")
    except KernelCallError:
        raise
    except Exception as err:
        raise KernelCallError(f"your kernel sent back something that is not a plain result ({err})") from None


def packed(value: Any) -> str:
    """Trusted data for the kernel (a pickle is fine in that direction: the kernel reads what we made)."""
    return base64.b64encode(pickle.dumps(value, protocol=4)).decode()


def gradient_leaves(args: tuple, kwargs: dict) -> list:
    """The tensors a gradient can flow to, in `kernel_calls.serve`'s order: tensor arguments that
    require a gradient, then each module argument's parameters."""
    import torch

    out = []
    for value in list(args) + [kwargs[k] for k in sorted(kwargs)]:
        if isinstance(value, torch.Tensor) and value.requires_grad:
            out.append(value)
        elif isinstance(value, torch.nn.Module):
            out.extend(p for p in value.parameters() if p.requires_grad)
    return out


def student_exception(error: dict) -> Exception:
    """An exception named as the student's was, of the most specific builtin class it derives from."""
    mro = [str(n) for n in error.get("mro", [])][:50]
    name = str(error.get("type", "Exception"))[:100] or "Exception"
    message = str(error.get("message", ""))[:2000]
    line = str(error.get("line", ""))[:300]
    if not message and line:
        message = f"(at `{line}`)"
    if "NotImplementedError" in mro:
        return NotImplementedError(message)
    base = next((getattr(builtins, n) for n in mro if isinstance(getattr(builtins, n, None), type)
                 and issubclass(getattr(builtins, n), Exception)), RuntimeError)
    if name == base.__name__:
        return base(message)
    try:
        return type(name, (base,), {"__module__": "student"})(message)
    except TypeError:
        return base(message)
