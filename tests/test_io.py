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
    with pytest.raises(
        FileExistsError, match=r"\.partial\.model\.keras is in the way .* dermnet did not make it"
    ):
        write_atomically(tmp_path / "model.keras", lambda partial: open(partial, "w").write("whole"))
    assert (theirs / "notes.txt" if kind == "folder" else theirs).read_text() == "mine"
    assert not (tmp_path / "model.keras").exists()


# A child process writes the folder again and SIGKILLs itself just before its `step`-th rename or removal:
# no `finally` runs, as after a real kill.
_KILLED_WRITE = """
import os, shutil, signal, sys
from pathlib import Path
from dermnet import _io

steps = [int(sys.argv[2])]

def killing(function):
    def step(*args, **kwargs):
        steps[0] -= 1
        if steps[0] < 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return step

def write(partial):
    Path(partial).mkdir()
    for name in ("saved_model.pb", "dermnet.json"):
        (Path(partial) / name).write_text("new")

_io.os.replace, _io.shutil.rmtree = killing(os.replace), killing(shutil.rmtree)
_io.write_atomically(sys.argv[1], write)
"""


@pytest.mark.parametrize("step", range(4))
def test_a_folder_replaced_is_whole_after_a_kill_at_any_step(tmp_path, step):
    import subprocess
    import sys

    from dermnet import _io

    write_atomically(tmp_path / "served", _folder(["saved_model.pb", "dermnet.json"]))  # each holds its name
    subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(tmp_path / "served"), str(step)])
    _io.recover_interrupted_write(tmp_path / "served")  # what the next write or a reader does first
    contents = {p.name: p.read_text() for p in (tmp_path / "served").iterdir()}
    assert contents in (
        {"saved_model.pb": "new", "dermnet.json": "new"},
        {"saved_model.pb": "saved_model.pb", "dermnet.json": "dermnet.json"},
    )
    assert [p.name for p in tmp_path.iterdir()] == ["served"]
    write_atomically(tmp_path / "served", _folder(["saved_model.pb", "dermnet.json"]))
    assert (tmp_path / "served" / "dermnet.json").read_text() == "dermnet.json"


def test_a_failed_rename_in_keeps_the_earlier_folder(tmp_path, monkeypatch):
    import os

    from dermnet import _io

    write_atomically(tmp_path / "served", _folder(["saved_model.pb"]))
    renames = []

    def failing(source, target):
        renames.append(target)
        if len(renames) == 2:  # bringing the new folder in: a full disk, a lost mount
            raise OSError("rename failed")
        os.replace(source, target)

    monkeypatch.setattr(_io.os, "replace", failing)
    with pytest.raises(OSError, match="rename failed"):
        write_atomically(tmp_path / "served", _folder(["saved_model.pb"]))
    assert (tmp_path / "served" / "saved_model.pb").read_text() == "saved_model.pb"
    assert [p.name for p in tmp_path.iterdir()] == ["served"]


def test_an_empty_staging_folder_is_a_leftover(tmp_path):
    (tmp_path / ".partial.model.keras").mkdir()  # killed between making it and marking it
    write_atomically(tmp_path / "model.keras", lambda partial: open(partial, "w").write("whole"))
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_every_writer_checks_its_target_by_one_rule(tmp_path, monkeypatch):
    from dermnet._io import check_target

    model = tmp_path / "run" / "model.keras"
    model.parent.mkdir()
    model.write_bytes(b"trained")
    assert check_target(tmp_path / "new.csv") == tmp_path / "new.csv"
    assert check_target(tmp_path / "run" / "empty") == tmp_path / "run" / "empty"  # a new folder
    with pytest.raises(FileExistsError, match="model.keras exists: give --overwrite"):
        check_target(model)
    for target in (model, tmp_path / "run"):  # what the command reads, or a folder holding it: never
        with pytest.raises(FileExistsError, match="must not replace"):
            check_target(target, overwrite=True, keep=[model])
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="report exists"):
        check_target(tmp_path / "report")
    assert check_target(tmp_path / "report", overwrite=True)  # then write_atomically's swap checks its files
    monkeypatch.chdir(tmp_path / "run")
    with pytest.raises(FileExistsError, match="working folder"):
        check_target(tmp_path, overwrite=True)
    assert model.read_bytes() == b"trained" and (tmp_path / "report" / "notes.txt").read_text() == "mine"


def _tmpfs(folder, options):
    """`folder`, a tmpfs mounted with `options` (a read-only folder, a full disk: real ones, not mocks);
    the test is skipped where mounting needs privileges this process lacks."""
    import subprocess

    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    return folder


@pytest.fixture
def read_only(tmp_path):
    import os
    import subprocess

    if os.geteuid():  # not root: the folder's mode is enough
        folder = tmp_path / "read-only"
        folder.mkdir(mode=0o555)
        yield folder
        folder.chmod(0o755)
        return
    yield _tmpfs(tmp_path / "read-only", "ro")
    subprocess.run(["umount", str(tmp_path / "read-only")], check=True)


@pytest.fixture
def full_disk(tmp_path):
    import subprocess

    yield _tmpfs(tmp_path / "small-disk", "size=64k")
    subprocess.run(["umount", str(tmp_path / "small-disk")], check=True)


def test_a_read_only_folder_is_refused_before_the_work_naming_it(read_only):
    from dermnet._io import check_target, write_json

    with pytest.raises(PermissionError, match=f"out.csv cannot be written: {read_only} is read-only"):
        check_target(read_only / "out.csv")  # what predict, evaluate and export call first
    with pytest.raises(OSError, match=f"cannot write {read_only / 'deeper' / 'scores.json'}"):
        write_json(read_only / "deeper" / "scores.json", {"auc": 0.5})


def test_a_full_disk_names_the_file_it_could_not_write_and_leaves_nothing(full_disk):
    from pathlib import Path

    target = full_disk / "predictions.csv"
    with pytest.raises(OSError, match=f"cannot write {target}: No space left on device"):
        write_atomically(target, lambda partial: Path(partial).write_bytes(b"0" * 1_000_000))
    assert not list(full_disk.iterdir())  # neither the file nor its staging folder
