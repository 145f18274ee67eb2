"""pgcourse.notebook.progress: desc=None is tqdm's disabled bar, silent on both streams; a label shows a bar on stdout."""

from pgcourse.notebook.progress import progress_bar


def test_no_label_is_a_silent_bar_with_the_bar_interface(capsys):
    with progress_bar(10, None) as bar:
        bar.update(3)
        bar.set_postfix_str("gold +0.10", refresh=False)
    bar.close()
    assert bar.disable and bar.n == 0  # what cartpole's loop reads: nothing counted
    assert capsys.readouterr() == ("", "")


def test_a_label_shows_a_bar_on_stdout_only(capsys, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the plain-text bar that grading uses
    with progress_bar(4, "SFT") as bar:
        bar.update(4)
    out, err = capsys.readouterr()
    assert "SFT" in out and "4/4" in out and err == ""
