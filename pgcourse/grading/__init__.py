"""The instructor's and the student's commands, built on nbgrader's own API.

- `release`: solutions/ → notebooks/ through nbgrader's `generate_assignment`.
- `course`: the term's nbgrader course directory (`course init`), and scratch courses.
- `task` → `parallel` → `record`: grade each submission in a private scratch course (in this
  process, on local Dask workers or on a Dask cluster); one writer records it in the course.
- `forked_kernels` (nbgrader's Execute step) and `kernel_forkserver`: grading kernels forked from
  a process that imported torch and matplotlib once; `sandbox` (the bubblewrap command and its
  policy) and `sandbox_server` (what that server does inside it): every grading kernel in an OS
  sandbox.
- `autograde`: `pgcourse grade`, the term's (`--course`) or a throw-away course.
- `exports`, `report`: grades for the LMS (an nbgrader exporter), per question, and what the
  class got wrong.
- `results`: `QuestionScore`, shared by grading and `selfcheck` (`pgcourse check`).
- `feedback`: feedback HTML without the hidden tests.

Teaching modules never import this package; notebooks never import it either.
"""
