"""What the tests of real applications (tests/test_apps_*.py) share: the import hook of
tools/pyzmq_as_vmzmq.py, loaded once, and where vmzmq lives (each hooked process must say it
imported that file as ``zmq``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import vmzmq

HOOK = Path(__file__).resolve().parents[1] / "tools" / "pyzmq_as_vmzmq.py"
VMZMQ_INIT = os.path.abspath(vmzmq.__file__)


def load_hook() -> ModuleType:
    module = sys.modules.get("pyzmq_as_vmzmq")
    if module is None:
        spec = importlib.util.spec_from_file_location("pyzmq_as_vmzmq", HOOK)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["pyzmq_as_vmzmq"] = module
        spec.loader.exec_module(module)
    return module
