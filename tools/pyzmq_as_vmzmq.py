#!/usr/bin/env python3
"""Run an unmodified pyzmq program on vmzmq: ``import zmq`` (and every ``zmq.*`` submodule)
resolves to vmzmq's, in this process and in every Python process it starts.

Usage::

    python tools/pyzmq_as_vmzmq.py -m locust -f locustfile.py ...   # python ARGS, hooked
    python tools/pyzmq_as_vmzmq.py script.py args...
    python tools/pyzmq_as_vmzmq.py --exec jupyter kernel ...        # any command, hooked
    python tools/pyzmq_as_vmzmq.py --env                            # print the variables
    python tools/pyzmq_as_vmzmq.py --check                          # show what zmq resolves to

From Python (tests)::

    env = pyzmq_as_vmzmq.environ()      # pass to subprocess: the child and its children
    pyzmq_as_vmzmq.install()            # this process only

How: ``pyzmq_as_vmzmq_site/sitecustomize.py`` (beside this file) is put first on PYTHONPATH,
so every Python process that inherits the environment runs it at start-up and installs the
finder below before any program code runs. The finder answers every ``zmq`` / ``zmq.*`` import
itself and never hands one to the path finders, so real pyzmq cannot be loaded by name even
though it is installed. When ``zmq`` is first imported, it asserts that the module is vmzmq's
(``__name__`` and ``__file__``) and, if ``VMZMQ_AS_ZMQ_LOG`` names a file, appends a JSON line
(pid, argv, zmq.__file__) to it, so a test can prove which processes ran on vmzmq.

The import is lazy on purpose: a program that imports zmq late (locust patches with gevent
first) sees the same order as with pyzmq.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types
from collections.abc import Mapping, Sequence

#: Directory whose sitecustomize.py installs the hook in child processes.
SITE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyzmq_as_vmzmq_site")
#: Set to "1" in hooked environments, for programs and tests that want to know.
MARKER = "VMZMQ_AS_ZMQ"
#: If set, a file each hooked process appends one JSON line to when it first imports zmq.
LOG_VAR = "VMZMQ_AS_ZMQ_LOG"

_ALIAS = "zmq"
_TARGET = "vmzmq"


class AliasError(ImportError):
    """zmq did not (or could not) resolve to vmzmq."""


def _target_name(fullname: str) -> str:
    return _TARGET + fullname[len(_ALIAS) :]


class _AliasLoader(importlib.abc.Loader):
    """Loads ``zmq.X`` as the already imported ``vmzmq.X`` module object (one object under two
    names, so isinstance checks and module state agree whichever name code used)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        # The import system overwrites __spec__ (only) on the module it is given; keep
        # vmzmq's, so the module still describes itself truthfully.
        self.original_spec = getattr(module, "__spec__", None)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.original_spec


class _ZmqToVmzmq(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _ALIAS and not fullname.startswith(_ALIAS + "."):
            return None
        target_name = _target_name(fullname)
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as exc:
            if exc.name != target_name:
                raise
            # Never fall through to the path finders: they would find real pyzmq.
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (pyzmq_as_vmzmq: vmzmq has no {target_name!r})",
                name=fullname,
            ) from None
        if fullname == _ALIAS:
            _check(module)
        is_package = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(module), is_package=is_package
        )


_finder = _ZmqToVmzmq()


def _check(module: types.ModuleType) -> None:
    """The assertion the hook exists for: zmq is vmzmq, from vmzmq's own directory."""
    import vmzmq

    vmzmq_dir = os.path.dirname(os.path.abspath(vmzmq.__file__ or ""))
    zmq_file = os.path.abspath(getattr(module, "__file__", None) or "")
    if module.__name__ != _TARGET or os.path.dirname(zmq_file) != vmzmq_dir:
        raise AliasError(f"pyzmq_as_vmzmq: zmq resolved to {module!r}, not vmzmq")
    log = os.environ.get(LOG_VAR)
    if log:
        line = json.dumps({"pid": os.getpid(), "argv": sys.argv, "zmq_file": zmq_file})
        # One write of one short line in append mode: lines from concurrent processes
        # do not interleave.
        with open(log, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def install() -> None:
    """Make ``import zmq`` and ``import zmq.<anything>`` give vmzmq's modules in this process.

    Raises AliasError if real pyzmq is already imported (too late to alias it)."""
    loaded = sys.modules.get(_ALIAS)
    if loaded is not None and getattr(loaded, "__name__", None) != _TARGET:
        raise AliasError(f"pyzmq_as_vmzmq: real pyzmq was imported first: {loaded!r}")
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def installed() -> bool:
    """Whether this process's imports of zmq go to vmzmq."""
    return _finder in sys.meta_path


def environ(base: Mapping[str, str] | None = None, log: str | None = None) -> dict[str, str]:
    """A copy of *base* (default os.environ) in which Python processes import vmzmq as zmq.

    *log*: a file every hooked process appends a JSON line to when it imports zmq."""
    import vmzmq

    env = dict(os.environ if base is None else base)
    # vmzmq's own parent directory too, so children use the same vmzmq as this process.
    vmzmq_parent = os.path.dirname(os.path.dirname(os.path.abspath(vmzmq.__file__ or "")))
    paths = [SITE_DIR, vmzmq_parent]
    paths += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env[MARKER] = "1"
    if log is not None:
        env[LOG_VAR] = log
    return env


def read_log(path: str) -> list[dict[str, object]]:
    """The records hooked processes appended to a VMZMQ_AS_ZMQ_LOG file."""
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    env = environ()
    if args[0] == "--env":
        for key in ("PYTHONPATH", MARKER):
            print(f"{key}={env[key]}")
        return 0
    if args[0] == "--check":
        args = ["-c", "import zmq; print(zmq.__name__, zmq.__file__)"]
    if args[0] == "--exec":
        if len(args) < 2:
            print("pyzmq_as_vmzmq: --exec needs a command", file=sys.stderr)
            return 2
        cmd = args[1:]
    else:
        cmd = [sys.executable, *args]
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: signals, exit status and the process tree stay the program's own.
    os.execvpe(cmd[0], cmd, env)


if __name__ == "__main__":
    sys.exit(main())
