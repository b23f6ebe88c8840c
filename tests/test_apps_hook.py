"""tools/pyzmq_as_vmzmq.py: ``import zmq`` gives vmzmq in a process and in its children, and
real pyzmq (installed here for the interop tests) can never be loaded by name instead."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vmzmq
from apps_support import HOOK, load_hook

pyzmq_as_vmzmq = load_hook()
VMZMQ_DIR = os.path.dirname(os.path.abspath(vmzmq.__file__))


def _hooked(code: str, tmp_path: Path, *hook_args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HOOK), *hook_args, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=pyzmq_as_vmzmq.environ(log=str(tmp_path / "hook.log")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_submodule_is_vmzmqs(tmp_path: Path) -> None:
    out = _hooked(
        """
        import json, sys
        import zmq, zmq.asyncio, zmq.auth, zmq.auth.thread, zmq.constants, zmq.error
        import zmq.eventloop.zmqstream, zmq.green, zmq.green.eventloop.zmqstream
        import zmq.log.handlers, zmq.sugar.socket, zmq.utils.jsonapi, zmq.utils.monitor
        from zmq.eventloop.zmqstream import ZMQStream
        names = [n for n in sys.modules if n == "zmq" or n.startswith("zmq.")]
        out = {
            "same": all(sys.modules[n] is sys.modules["vmzmq" + n[3:]] for n in names),
            "files": sorted({getattr(sys.modules[n], "__file__", "") or "" for n in names}),
            "stream": ZMQStream.__module__,
            "spec": zmq.__spec__.name,
            "name": zmq.__name__,
        }
        try:
            import zmq.backend.cython
        except ModuleNotFoundError as exc:
            out["missing"] = exc.name
        print(json.dumps(out))
        """,
        tmp_path,
    )
    assert out["same"] is True
    assert all(f.startswith(VMZMQ_DIR + os.sep) for f in out["files"]), out["files"]
    assert out["stream"] == "vmzmq.eventloop.zmqstream"
    assert out["spec"] == out["name"] == "vmzmq"  # vmzmq's modules still say who they are
    # pyzmq has it, vmzmq has not: an ImportError, never real pyzmq's module.
    assert out["missing"] == "zmq.backend.cython"


def test_children_and_grandchildren_get_vmzmq(tmp_path: Path) -> None:
    out = _hooked(
        """
        import json, os, subprocess, sys
        code = (
            "import subprocess, sys; print(subprocess.run([sys.executable, '-c', "
            "'import zmq; print(zmq.__file__)'], capture_output=True, text=True).stdout)"
        )
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        print(json.dumps({"grandchild": child.stdout.strip(), "pid": os.getpid()}))
        """,
        tmp_path,
    )
    assert out["grandchild"] == os.path.join(VMZMQ_DIR, "__init__.py")
    records = pyzmq_as_vmzmq.read_log(str(tmp_path / "hook.log"))
    # Only the grandchild imported zmq; the log has its pid and vmzmq's file.
    assert [rec["zmq_file"] for rec in records] == [os.path.join(VMZMQ_DIR, "__init__.py")]
    assert records[0]["pid"] != out["pid"]


def test_exec_and_env(tmp_path: Path) -> None:
    out = _hooked(
        "import json, os, zmq; print(json.dumps({'marker': os.environ.get('VMZMQ_AS_ZMQ'),"
        " 'name': zmq.__name__}))",
        tmp_path,
        "--exec",
        sys.executable,
    )
    assert out == {"marker": "1", "name": "vmzmq"}
    env = subprocess.run(
        [sys.executable, str(HOOK), "--env"], capture_output=True, text=True, check=True
    ).stdout
    assert f"PYTHONPATH={pyzmq_as_vmzmq.SITE_DIR}{os.pathsep}" in env


def test_install_refuses_after_real_pyzmq() -> None:
    if importlib.util.find_spec("zmq") is None:  # real pyzmq, used in a child only
        pytest.skip("pyzmq is not installed")
    code = f"""
        import importlib.util, sys
        import zmq
        spec = importlib.util.spec_from_file_location("hook", {str(HOOK)!r})
        hook = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hook)
        try:
            hook.install()
        except hook.AliasError as exc:
            print("refused:", exc)
        """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.startswith("refused: pyzmq_as_vmzmq: real pyzmq was imported first")


def test_a_hook_that_cannot_install_stops_the_process(tmp_path: Path) -> None:
    # The real sitecustomize beside a stand-in hook whose install() fails (as it does when
    # pyzmq was imported first): the program must not run at all.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        (Path(pyzmq_as_vmzmq.SITE_DIR) / "sitecustomize.py").read_text()
    )
    (tmp_path / "pyzmq_as_vmzmq.py").write_text(
        "def install():\n    raise ImportError('real pyzmq was imported first')\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site))
    proc = subprocess.run(
        [sys.executable, "-c", "print('the program ran')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "the program ran" not in proc.stdout
    assert "pyzmq_as_vmzmq: cannot make zmq vmzmq" in proc.stderr
