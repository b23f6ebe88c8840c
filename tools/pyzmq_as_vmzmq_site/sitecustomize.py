"""Installs tools/pyzmq_as_vmzmq.py's finder at interpreter start-up, so every Python process
started with this directory on PYTHONPATH imports vmzmq as zmq (see that file)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def _load_hook() -> None:
    name = "pyzmq_as_vmzmq"
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"pyzmq_as_vmzmq: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.install()


def _chain() -> None:
    # This file shadows any other sitecustomize (a distribution's, coverage's): run the next
    # one on the path as Python would have.
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


try:
    _load_hook()
except Exception as exc:
    # Python reports an exception from sitecustomize and runs the program anyway, which would
    # then import real pyzmq; SystemExit stops the interpreter before the program starts.
    raise SystemExit(f"pyzmq_as_vmzmq: cannot make zmq vmzmq: {exc!r}") from exc
_chain()
