"""What a notebook needs at run time, beside the course's ideas: the grading mode, bars, animations.

grading_mode  is nbgrader running this notebook? (`NBGRADER_EXECUTION`: short budgets, no drawing)
progress      the one progress bar (tqdm.auto; text on stdout while grading, never stderr)
animation     matplotlib's JavaScript animation player, with a bar while its frames render (01, 05)

Import each module by its path (`from pgcourse.notebook.progress import progress_bar`): this file
re-exports nothing.
"""
