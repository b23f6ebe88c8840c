"""Typing (issue 18, point 3): what users import passes ``mypy --strict``, and so does a
program written against it the way pyzmq's users write theirs (``typing_check.py``).

mypy runs with ``--follow-imports=silent``: the modules the checked ones import (socket.py,
the engine...) give them their types but have their own errors left out, which is how a
user's mypy treats an installed package. A fresh cache per run keeps runs independent.
"""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PUBLIC = [SRC / "vmzmq" / "__init__.py", SRC / "vmzmq" / "asyncio.py", SRC / "vmzmq" / "auth"]
PROGRAM = Path(__file__).with_name("typing_check.py")


def mypy(tmp_path: Path, *files: Path) -> tuple[int, str]:
    """mypy --strict's exit status and report on ``files``."""
    env = dict(os.environ, MYPYPATH=str(SRC))  # vmzmq from this tree, installed or not
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *map(str, files),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def assert_clean(tmp_path: Path, *files: Path) -> None:
    status, report = mypy(tmp_path, *files)
    if status != 0 or report:
        pytest.fail(f"mypy --strict reports (exit status {status}):\n{report}", pytrace=False)


def test_public_modules_pass_mypy_strict(tmp_path: Path) -> None:
    assert_clean(tmp_path, *PUBLIC)


def test_user_program_passes_mypy_strict(tmp_path: Path) -> None:
    assert_clean(tmp_path, PROGRAM)


def test_user_program_runs() -> None:
    # What the annotations promise (bytes from recv, futures from asyncio...) is checked by
    # the program's own asserts.
    result = subprocess.run(
        [sys.executable, str(PROGRAM)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_types_catch_mistakes(tmp_path: Path) -> None:
    """The annotations mean something: a blocking socket's recv gives bytes, an asyncio
    socket's a future, one socket kind does not pass for the other, and a misspelt method
    is no option attribute."""
    program = tmp_path / "mistakes.py"
    program.write_text(
        "import vmzmq as zmq\n"
        "import vmzmq.asyncio\n"
        "def f(sync: zmq.Socket[bytes], aio: zmq.asyncio.Socket) -> None:\n"
        "    text: str = sync.recv()\n"  # line 4
        "    data: bytes = aio.recv()\n"  # line 5: not awaited
        "    blocking: zmq.Socket[bytes] = aio\n"  # line 6
        "    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.asyncio.Context()\n"  # line 7
        "    parts: list[str] = sync.recv_multipart()\n"  # line 8
        "    sync.recv_multpart()\n"  # line 9
    )
    status, report = mypy(tmp_path, program)
    assert status == 1, report
    flagged = {
        int(line.split(":")[1]) for line in report.splitlines() if ": error:" in line
    }
    assert flagged == {4, 5, 6, 7, 8, 9}, report


def test_package_is_marked_typed() -> None:
    # PEP 561: without the marker, mypy ignores an installed vmzmq's annotations.
    assert importlib.resources.files("vmzmq").joinpath("py.typed").is_file()
