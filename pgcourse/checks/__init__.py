"""Visible checks that notebooks call right after each exercise, one module per notebook.

    from pgcourse.checks.importance import check_iw_gradient_estimate   # notebook 01

Each `check_<exercise>(fn)` tries several cases and either prints one ✓ line or raises
`AssertionError` with a message that says what to fix (`pgcourse.checks.core.Check` does the
comparing and explaining). Hidden tests in the instructor's notebooks add more cases, so passing
a visible check is necessary but not sufficient.
"""
