"""Atomic writes: a file or folder replaced whole, and never a folder holding a user's other files."""

import pytest

from dermnet._io import write_atomically


def _folder(files):
    def write(partial):
        from pathlib import Path

        Path(partial).mkdir()
        for name in files:
            (Path(partial) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(partial) / name).write_text(name)
    return write


def test_a_folder_written_again_replaces_the_earlier_one(tmp_path):
    write_atomically(tmp_path / "out", _folder(["saved_model.pb", "old.txt"]))
    write_atomically(tmp_path / "out", _folder(["saved_model.pb", "old.txt"]))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["old.txt", "saved_model.pb"]


def test_a_folder_with_other_files_is_refused_and_kept(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="thesis.tex"):
        write_atomically(tmp_path / "mine", _folder(["saved_model.pb"]))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # no partial folder left behind


def test_a_user_file_deep_in_the_folder_is_found(tmp_path):
    write_atomically(tmp_path / "export", _folder(["saved_model.pb", "variables/variables.index"]))
    (tmp_path / "export" / "variables" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_atomically(tmp_path / "export", _folder(["saved_model.pb", "variables/variables.index"]))
    assert (tmp_path / "export" / "variables" / "notes.txt").read_text() == "mine"


def test_a_write_killed_midway_is_cleared_by_the_next_one(tmp_path):
    def killed(partial):
        from pathlib import Path

        Path(partial).write_text("half")
        raise KeyboardInterrupt  # stands for the kill: the staging folder stays, as after SIGKILL

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "model.keras", killed)
    assert not (tmp_path / "model.keras").exists()
    # What a SIGKILL leaves (no `finally` runs): the staging folder with its mark and the half-written file
    (tmp_path / ".partial.model.keras").mkdir()
    (tmp_path / ".partial.model.keras" / ".dermnet-staging").touch()
    (tmp_path / ".partial.model.keras" / "model.keras").write_text("half")
    write_atomically(tmp_path / "model.keras", lambda partial: open(partial, "w").write("whole"))
    assert (tmp_path / "model.keras").read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_user_entry_named_like_the_staging_folder_is_refused_and_kept(tmp_path, kind):
    theirs = tmp_path / ".partial.model.keras"
    if kind == "folder":
        theirs.mkdir()
        (theirs / "notes.txt").write_text("mine")
    else:
        theirs.write_text("mine")
    with pytest.raises(FileExistsError, match=r"\.partial\.model\.keras is in the way .* dermnet did not make it"):
        write_atomically(tmp_path / "model.keras", lambda partial: open(partial, "w").write("whole"))
    assert (theirs / "notes.txt" if kind == "folder" else theirs).read_text() == "mine"
    assert not (tmp_path / "model.keras").exists()
