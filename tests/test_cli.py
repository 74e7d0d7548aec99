"""`dermnet list` (tests/test_docs.py checks the tables it generates for the docs), and the command line's manners:
--version, --debug anywhere, help for every option, no TensorFlow start-up lines."""

import argparse
import os
import shutil
import subprocess
import sys

import pytest

import dermnet
from dermnet import cli


def test_list_prints_a_row_per_model(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "task", "paper"]
    assert [line.split()[0] for line in lines[1:]] == dermnet.list_models()
    densenet = next(line for line in lines if line.startswith("densenet201"))
    assert "19,309,127" in densenet and "224×224" in densenet


def test_list_filters(capsys):
    assert cli.main(["list", "*dense*", "--task", "classification"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["densenet201"]


def test_installed_console_script_runs():
    # where pip put the scripts of the interpreter running the tests, else the PATH
    dermnet_command = shutil.which("dermnet", path=os.path.dirname(sys.executable)) or shutil.which("dermnet")
    assert dermnet_command, "install dermnet first (pip install .): the `dermnet` command is missing"
    result = subprocess.run([dermnet_command, "list", "vgg*"], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[1].startswith("vgg16")
    # A command with a model loads TensorFlow, whose C++ start-up lines (absl's notice, CUDA probing,
    # oneDNN on some CPUs: which ones depends on the machine) are muted; DERMNET_STARTUP_LOGS shows them.
    error = "dermnet evaluate: error: no-such-run: no such model file"
    for startup_logs in ("", "1"):
        loads = subprocess.run(
            [dermnet_command, "evaluate", "no-such-run"],
            capture_output=True,
            text=True,
            env={**os.environ, "DERMNET_STARTUP_LOGS": startup_logs},
        )
        assert loads.returncode == 1 and error in loads.stderr
        assert (len(loads.stderr.strip().splitlines()) > 1) == bool(startup_logs), (
            loads.stderr
        )  # muted: the error alone


def test_list_loads_no_keras():
    probe = "import sys; from dermnet import cli; cli.main(['list']); print('keras' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.split()[-1]
        == "False"
    )


def test_errors_are_one_line_without_traceback(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ValueError("something a person can act on")

    monkeypatch.setattr(cli, "model_table", broken)
    assert cli.main(["list"]) == 1
    assert capsys.readouterr().err == "dermnet list: error: something a person can act on\n"
    with pytest.raises(ValueError):
        cli.main(["--debug", "list"])
    with pytest.raises(ValueError):
        cli.main(["list", "--debug"])  # after the subcommand too


def test_version_and_help_for_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out == f"dermnet {dermnet.__version__}\n"
    missing = []

    def walk(parser, name):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for command, sub in action.choices.items():
                    walk(sub, f"{name} {command}")
            elif not action.help:
                missing.append(f"{name} {action.dest}")

    walk(cli.parser(), "dermnet")
    assert not missing, f"options without help: {missing}"


def test_progress_off_a_terminal_is_a_line_per_state(capsys):
    from dermnet._progress import progress

    with progress(3, "drawing") as bar:  # pytest's stderr is no terminal
        bar.update(3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("dermnet: drawing:   0%") and lines[-1].startswith("dermnet: drawing: 100%")
    assert "\r" not in "".join(lines) and len(lines) == len(set(lines)) == 2


def test_ctrl_c_is_one_line_that_says_how_to_resume(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_train", interrupted)
    assert cli.main(["train", "baseline_cnn"]) == 130
    assert capsys.readouterr().err == "dermnet train: interrupted (run the same command again to resume it)\n"
