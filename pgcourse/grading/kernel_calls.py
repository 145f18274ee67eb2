"""The kernel's end of the grading channel: call the student's functions, send back plain data.

This file is never imported by the kernel. The grading process reads its source and sends it,
with one call of `serve`, as a cell that the kernel runs (`channel.KernelChannel`). Everything
the kernel says travels as the prompt of an `input()` request on Jupyter's stdin channel, one JSON
object per prompt; the grading process answers each with the next request. So the channel is
Jupyter's own, it needs no file or socket of its own, and the grading process reads only what it
asked for. Nothing here decides anything: the kernel may change or ignore all of it, and then only
its own answers are wrong or missing (the grading process judges them against its own references).

    kernel → grader   {"ready": true}                    the loop runs; send a request
    grader → kernel   {"op": "call", "name": "reward_to_go", "args": <pickle, base64>, "stubs": [...]}
    kernel → grader   {"result": <value>, "id": 3, "mutated": {"0": <value>}} | {"error": {...}}
                      {"callback": "reward_to_go", "args": [<value>, ...]}   (a stubbed earlier exercise)
    grader → kernel   {"op": "map", "name": …, "args": <pickle of [(args, kwargs), …]>, "stubs": [...]}
    kernel → grader   {"results": [<value>, …]}                          many calls, one round trip
    grader → kernel   {"op": "vjp", "id": 3, "grad": <pickle, base64>}      ∂⟨grad, result⟩/∂(inputs)
    grader → kernel   {"op": "end"}

Requests from the grading process are pickles (trusted data, for the kernel to read); what the
kernel sends back is never a pickle: arrays and tensors go as dtype, shape and raw bytes.
"""

PROMPT = "\x00pgcourse\x00"   # every prompt of this loop starts with it


def serve(library=None):  # noqa: C901 — one loop, read top to bottom
    import base64
    import builtins
    import io
    import json
    import pickle
    import sys
    import traceback

    import numpy as np
    torch = sys.modules.get("torch")
    user_ns = get_ipython().user_ns  # noqa: F821 — run inside IPython
    ask = builtins.input
    kept = {}          # handle → (result tensor, its inputs with a gradient), for vjp

    def arrays(x):
        return x.detach().cpu().contiguous() if torch is not None and isinstance(x, torch.Tensor) else x

    def encode(x, depth=0):
        if torch is not None and isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            name = str(t.dtype).replace("torch.", "")
            if name == "bfloat16":
                t = t.float()
            a = t.numpy()
            return {"t": "tensor", "dtype": a.dtype.str, "torch_dtype": name, "shape": list(a.shape),
                    "b": base64.b64encode(a.tobytes()).decode(), "requires_grad": bool(x.requires_grad),
                    "grad_fn": x.grad_fn is not None}
        if isinstance(x, np.ndarray) or isinstance(x, np.generic):
            a = np.asarray(x)
            if a.dtype.kind not in "biufc":
                return {"t": "other", "type": f"numpy array of {a.dtype}"}
            return {"t": "ndarray" if isinstance(x, np.ndarray) else "npscalar", "dtype": a.dtype.str,
                    "shape": list(a.shape), "b": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}
        if isinstance(x, bool):
            return {"t": "bool", "v": bool(x)}
        if isinstance(x, int):
            return {"t": "int", "v": str(int(x))}
        if isinstance(x, float):
            return {"t": "float", "v": float(x).hex()}
        if isinstance(x, str):
            return {"t": "str", "v": str(x)[:2000]}
        if x is None:
            return {"t": "none"}
        if isinstance(x, (list, tuple)) and depth < 4 and len(x) <= 1000:
            return {"t": "list" if isinstance(x, list) else "tuple", "v": [encode(v, depth + 1) for v in x]}
        return {"t": "other", "type": type(x).__name__}

    def leaves(args, kwargs):
        """The tensors a gradient can flow to, in the order the grading process lists them too."""
        out = []
        for value in list(args) + [kwargs[k] for k in sorted(kwargs)]:
            if torch is None:
                break
            if isinstance(value, torch.Tensor) and value.requires_grad:
                out.append(value)
            elif isinstance(value, torch.nn.Module):
                out.extend(p for p in value.parameters() if p.requires_grad)
        return out

    def snapshot(args):
        return {i: (a.detach().clone() if torch is not None and isinstance(a, torch.Tensor) else a.copy())
                for i, a in enumerate(args)
                if isinstance(a, np.ndarray) or (torch is not None and isinstance(a, torch.Tensor))}

    def changed(before, after):
        if torch is not None and isinstance(before, torch.Tensor):
            return before.shape != after.shape or not torch.equal(before, arrays(after))
        return before.shape != after.shape or not np.array_equal(before, after, equal_nan=True)

    def error(err):
        frames = traceback.extract_tb(err.__traceback__)
        line = (frames[-1].line or "").strip() if frames else ""
        names = [c.__name__ for c in type(err).__mro__]
        return {"error": {"type": type(err).__name__, "mro": names, "message": str(err)[:2000], "line": line[:300]}}

    def stub(name):
        def earlier_exercise(*args, **kwargs):
            answer = json.loads(ask(PROMPT + json.dumps({"callback": name, "args": [encode(a) for a in args],
                                                         "kwargs": {k: encode(v) for k, v in kwargs.items()}})))
            if "error" in answer:
                raise ValueError(answer["error"])
            return pickle.loads(base64.b64decode(answer["value"]))
        earlier_exercise.__name__ = name
        return earlier_exercise

    def watched(name, fn, args, kwargs):
        if library is None:
            return fn(*args, **kwargs), None
        watch = library(name)
        with watch:
            result = fn(*args, **kwargs)
        return result, watch.used

    def answer(request, handle):
        """The reply to one request: a result, gradients, or the student's error."""
        nonlocal torch
        torch = sys.modules.get("torch")   # imported since the loop began (by an argument, or the student)
        try:
            if request.get("op") == "vjp":
                result, inputs = kept[request["id"]]
                grad = pickle.loads(base64.b64decode(request["grad"]))
                grads = torch.autograd.grad(result, inputs, grad_outputs=grad, retain_graph=True, allow_unused=True)
                return {"grads": [encode(g) for g in grads]}
            name = request["name"]
            if name not in user_ns:
                raise NameError(f"name '{name}' is not defined in your notebook")
            fn = user_ns[name]
            saved = {s: user_ns[s] for s in request.get("stubs", []) if s in user_ns}
            user_ns.update({s: stub(s) for s in saved})
            try:
                if request.get("op") == "map":   # many calls, one reply: [(args, kwargs), …] → [result, …]
                    results = [watched(name, fn, a, k) for a, k in pickle.loads(base64.b64decode(request["args"]))]
                    used = next((u for _, u in results if u is not None), None)
                    reply = {"results": [encode(r) for r, _ in results]}
                    return dict(reply, library=used) if used is not None else reply
                args, kwargs = pickle.loads(base64.b64decode(request["args"]))
                before = snapshot(args)
                result, used = watched(name, fn, args, kwargs)
            finally:
                user_ns.update(saved)
            torch = sys.modules.get("torch")
            if torch is not None and isinstance(result, torch.Tensor) and result.requires_grad:
                kept[handle] = (result, leaves(args, kwargs))
            reply = {"result": encode(result), "id": handle,
                     "mutated": {str(i): encode(args[i]) for i, b in before.items() if changed(b, args[i])}}
            if used is not None:
                reply["library"] = used
            return reply
        except BaseException as err:   # the student's error (or a KeyboardInterrupt), reported, not raised
            return error(err)

    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()   # the student's prints go nowhere (and input(),
    try:                                                    # which flushes both, need not wait for the kernel's)
        reply, handle = {"ready": True}, 0
        while True:
            request = json.loads(ask(PROMPT + json.dumps(reply)))
            if request.get("op") == "end":
                return
            handle += 1
            reply = answer(request, handle)
            sys.stdout.seek(0), sys.stdout.truncate(), sys.stderr.seek(0), sys.stderr.truncate()
    finally:
        sys.stdout, sys.stderr = real
