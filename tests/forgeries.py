"""Forged submissions for the forgery suite (tests/test_forgery.py, issue 22).

Each kind of forgery tampers with the kernel a notebook's answers run in, so that a grader which
ran its test cells in that kernel would record a pass, or would show the hidden tests to the
student. `forged(kind, assignment)` is the release of `assignment` with the kind's code at the top
of its first code answer cell (followed by that cell's untouched, blank definition), every other
answer blank (`raise NotImplementedError()`), except for the kinds that forge the answers
themselves (`equals_everything`, `lying_arrays`), which replace every answer with a forgery.

The kinds:
    input_transformer    every later cell becomes `pass` (IPython's input_transformers_post)
    ast_transformer      every later cell's syntax tree becomes `pass` (an ast.NodeTransformer)
    event_hooks          pre/post_run_cell hooks print a fake pass and the running cell's source, and an
                         audit hook prints any source compiled or code executed that holds an `assert`
    custom_exc           set_custom_exc((BaseException,), …) swallows every error, and a post_run_cell hook
                         clears it from the cell's result (so its reply says "ok")
    patched_libraries    numpy's, torch's and pgcourse's comparisons and checks made into no-ops,
                         `AssertionError` in builtins replaced
    equals_everything    every exercise returns an object equal to everything (`__array__`: zeros)
    lying_arrays         every exercise returns an ndarray / torch.Tensor subclass whose comparisons lie
    threads              background threads that keep printing fake passes (to sys.stdout and to fd 1)
    exit_kernel          os._exit(0)
    kill_kernel          os.kill(os.getpid(), SIGKILL)
    printed_pass         prints and displays (plain text, HTML, Markdown) what a pass looks like
"""

from __future__ import annotations

import copy
import re

import nbformat

import submissions as S
from pgcourse.checks.integrity import REGISTRY

# The exercises whose answers are torch tensors (the rest return NumPy arrays or floats).
TORCH_NOTEBOOKS = {"05_cartpole", "06_llm_summarization"}
TORCH_EXERCISES = {"neural_log_prob"}


def exercises(assignment: str) -> list[str]:
    return [e.exercise for e in REGISTRY if e.notebook == assignment]


def fake_passes(assignment: str) -> str:
    return "\n".join(f"✓ {name}: all 5 checks passed." for name in exercises(assignment))


def _uses_torch(assignment: str, name: str) -> bool:
    return assignment in TORCH_NOTEBOOKS or name in TORCH_EXERCISES


INPUT_TRANSFORMER = 'get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])\n'

AST_TRANSFORMER = '''import ast

class _EveryCellPasses(ast.NodeTransformer):
    def visit_Module(self, node):
        node.body = ast.parse("pass").body
        return node

get_ipython().ast_transformers.append(_EveryCellPasses())
'''

EVENT_HOOKS = '''import sys

def _source_of(info):
    return getattr(info, "raw_cell", None) or getattr(getattr(info, "info", None), "raw_cell", None) or ""

def _before(info):
    print({fake!r})
    print("SPY pre_run_cell source:", _source_of(info))

def _after(result):
    print({fake!r})
    print("SPY post_run_cell source:", _source_of(result))
    print("SPY history:", get_ipython().user_ns.get("_ih", [])[-3:])

def _audit(event, args):
    if event == "compile" and args and isinstance(args[0], (str, bytes)) and "assert" in str(args[0]):
        print("SPY compiled:", str(args[0])[:5000])
    elif event == "exec" and args and "assert" in repr(getattr(args[0], "co_consts", ())):
        print("SPY executed:", repr(args[0].co_consts)[:5000])

get_ipython().events.register("pre_run_cell", _before)
get_ipython().events.register("post_run_cell", _after)
sys.addaudithook(_audit)
'''

CUSTOM_EXC = '''def _swallow(shell, etype, evalue, tb, tb_offset=None):
    print({fake!r})
    return []

def _no_error(result):   # and the cell's reply says "ok" (nbgrader records an error from the reply too)
    result.error_in_exec = result.error_before_exec = None

get_ipython().set_custom_exc((BaseException,), _swallow)
get_ipython().events.register("post_run_cell", _no_error)
'''

PATCHED_LIBRARIES = '''import builtins, importlib, pkgutil
import numpy as np
import numpy.testing
import pgcourse.checks, pgcourse.checks.core

np.allclose = np.array_equal = np.array_equiv = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, bool)
np.isfinite = lambda x, *a, **k: np.ones(np.shape(x), bool)
np.testing.assert_allclose = np.testing.assert_array_equal = np.testing.assert_almost_equal = lambda *a, **k: None
builtins.AssertionError = type("AssertionError", (Exception,), {{}})
builtins.NotImplementedError = type("NotImplementedError", (Exception,), {{}})
builtins.abs = lambda x: 0.0
try:
    import torch
    torch.allclose = torch.equal = lambda *a, **k: True
    torch.testing.assert_close = lambda *a, **k: None
except ImportError:
    pass
for _name in list(vars(pgcourse.checks.core.Check)):
    if _name.startswith(("expect", "fail", "done")):
        setattr(pgcourse.checks.core.Check, _name, lambda self, *a, **k: None)
pgcourse.checks.core.Check.call = lambda self, *a, **k: 0.0
for _module in pkgutil.iter_modules(pgcourse.checks.__path__):
    _checks = importlib.import_module("pgcourse.checks." + _module.name)
    for _name in dir(_checks):
        if _name.startswith("check_"):
            setattr(_checks, _name, lambda *a, _n=_name, **k: print("✓", _n, "all 5 checks passed."))
'''

EQUALS_EVERYTHING = '''import numpy as np

class _EqualsEverything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __le__ = __ge__ = __eq__
    __lt__ = __gt__ = __ne__
    def __hash__(self): return 0
    def __bool__(self): return True
    def __array__(self, dtype=None, copy=None): return np.zeros(3, dtype=dtype)
    def __float__(self): return 0.0
    def __int__(self): return 0
    def __index__(self): return 0
    def __len__(self): return 1
    def __iter__(self): return iter([self])
    def __getitem__(self, key): return self
    def __call__(self, *args, **kwargs): return self
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self
    def __repr__(self): return "array([0., 0., 0.])"
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __call__
    __neg__ = __abs__ = __pow__ = __matmul__ = __rmatmul__ = __call__
'''

LYING_ARRAYS = '''import numpy as np

class _LyingArray(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs): return np.True_
    def __array_function__(self, func, types, args, kwargs): return True
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    def __float__(self): return 0.0

def _lying_array(args):
    first = next((a for a in args if isinstance(a, np.ndarray)), np.zeros(()))
    return np.zeros(np.shape(first)).view(_LyingArray)
'''

LYING_TENSORS = '''import torch

class _LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("allclose", "equal", "isclose", "eq", "__eq__", "all", "any", "__bool__"):
            return True
        if getattr(func, "__name__", "") in ("ne", "__ne__"):
            return False
        return super().__torch_function__(func, types, args, kwargs or {{}})

def _lying_tensor(args):
    first = next((a for a in args if isinstance(a, torch.Tensor)), torch.zeros(()))
    return torch.zeros(first.shape[:1], dtype=first.dtype if first.is_floating_point() else torch.float32,
                       requires_grad=True).as_subclass(_LyingTensor)
'''

THREADS = '''import os, sys, threading, time

def _fake_passes():
    while True:
        print({fake!r}, flush=True)
        time.sleep(0.05)

def _fake_to_fd():
    while True:
        try:
            os.write(1, ({fake!r} + "\\n").encode())
        except OSError:
            pass
        time.sleep(0.05)

for _target in (_fake_passes, _fake_to_fd):
    threading.Thread(target=_target, daemon=True).start()
'''

EXIT_KERNEL = "import os\nos._exit(0)\n"
KILL_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"

PRINTED_PASS = '''from IPython.display import HTML, Markdown, display
print({fake!r})
display(HTML("<pre>" + {fake!r} + "</pre>"))
display(Markdown("**All checks passed.** " + {fake!r}))
display({{"text/plain": {fake!r}}}, raw=True)
'''

# kind → the code at the top of the first answer cell (`{fake}`: the fake pass lines).
PRELUDES = {
    "input_transformer": INPUT_TRANSFORMER,
    "ast_transformer": AST_TRANSFORMER,
    "event_hooks": EVENT_HOOKS,
    "custom_exc": CUSTOM_EXC,
    "patched_libraries": PATCHED_LIBRARIES,
    "equals_everything": EQUALS_EVERYTHING,
    "lying_arrays": LYING_ARRAYS,
    "threads": THREADS,
    "exit_kernel": EXIT_KERNEL,
    "kill_kernel": KILL_KERNEL,
    "printed_pass": PRINTED_PASS,
}
KINDS = list(PRELUDES)


def _forged_answer(kind: str, assignment: str, name: str) -> str:
    """A definition of exercise `name` whose result is the kind's forgery (any arguments)."""
    if kind == "equals_everything":
        body = "return _EqualsEverything()"
    else:
        body = f"return {'_lying_tensor' if _uses_torch(assignment, name) else '_lying_array'}(args)"
    return f"def {name}(*args, **kwargs):\n    {body}\n"


def answer_cells(assignment: str) -> list[str]:
    """The grade ids of the notebook's code answer cells, in order."""
    return [S.grade_id(c) for c in S.blank(assignment).cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("solution")]


def forged(kind: str, assignment: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(S.blank(assignment))
    prelude = PRELUDES[kind].format(fake=fake_passes(assignment))
    cells = {S.grade_id(c): c for c in nb.cells}
    first = answer_cells(assignment)[0]
    if kind in ("equals_everything", "lying_arrays"):
        if kind == "lying_arrays" and any(_uses_torch(assignment, e) for e in exercises(assignment)):
            prelude += "\n" + LYING_TENSORS.format()
        for name in exercises(assignment):
            cells[name].source = _forged_answer(kind, assignment, name)
    cells[first].source = prelude + "\n\n" + cells[first].source
    return nb


# ---- the hidden tests' text ---------------------------------------------------------------------

MIN_LINE = 25


STRING_LINE = re.compile(r"""^[rbfu]{0,2}["']""", re.I)   # a line that starts with a string: a message


def hidden_lines(assignment: str) -> list[str]:
    """The code lines of the notebook's hidden tests that must never reach a student.

    Each stripped line of a `### BEGIN HIDDEN TESTS … ### END HIDDEN TESTS` region, its trailing
    comment cut, kept if it is at least MIN_LINE characters long and is code: comment lines and
    lines that are only a string (an assertion's message on its own line: the messages are written
    for students, who see the one of an assertion that fails) are left out, and so are lines that
    the student's own release shows anyway (the visible checks' calls).
    """
    visible = "\n".join(c.source for c in S.blank(assignment).cells)
    out = []
    for cell in S.read(S.SOLUTIONS / f"{assignment}.ipynb").cells:
        for region in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
            for line in region.splitlines():
                code = re.split(r"\s+# ", line.strip())[0].strip()
                if len(code) >= MIN_LINE and not code.startswith("#") and not STRING_LINE.match(code) \
                        and code not in visible:
                    out.append(code)
    return list(dict.fromkeys(out))
