"""The instructor's and the student's commands, built on nbgrader's own API.

- `release`: solutions/ → notebooks/ through nbgrader's `generate_assignment`.
- `grade`: autograde a folder of submissions, write feedback HTML (hidden tests stripped) and CSV.
- `selfcheck`: run one notebook as the autograder would and report each question.

Teaching modules never import this package; notebooks never import it either.
"""
