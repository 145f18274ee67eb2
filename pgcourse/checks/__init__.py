"""Visible checks that notebooks call right after each exercise.

Each `check_<exercise>(fn)` tries several cases and either prints one ✓ line or raises
`AssertionError` with a message that says what to fix. Hidden tests in the instructor's notebooks
add more cases, so passing a visible check is necessary but not sufficient.
"""

from pgcourse.checks.importance import check_iw_gradient_estimate, check_score_function_gradient_estimate

__all__ = ["check_iw_gradient_estimate", "check_score_function_gradient_estimate"]
