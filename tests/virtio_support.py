"""What the virtio guest test modules share: when they run, and booting their guests.

They run only when selected: ``-m`` with ``virtio`` in it, the file named on the command line,
or ``VMZMQ_REQUIRE_VIRTIO=1``; a plain ``pytest tests/`` skips them (each boot costs 10-30 s).
When the harness cannot be prepared (no QEMU, Debian's unstable suite unreachable for
vhost-device-vsock...) they skip, unless ``VMZMQ_REQUIRE_VIRTIO=1`` (what ``tools/test-all``
sets): then they fail. A guest that does not boot once the harness is prepared always fails.
Inside a guest (``VMZMQ_IN_GUEST=1``) they skip: no QEMU in QEMU.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS_DIR = REPO / "tools" / "vsock-guest"
REQUIRE = os.environ.get("VMZMQ_REQUIRE_VIRTIO") == "1"
IN_GUEST = os.environ.get("VMZMQ_IN_GUEST") == "1"

#: Seconds the guests of one module may live (everything is killed after it).
MODULE_LIFETIME = 3600.0

sys.path.insert(0, str(HARNESS_DIR))
try:
    import virtio_guest
except Exception as e:  # noqa: BLE001 - reported by prepare_or_skip
    virtio_guest = None
    IMPORT_ERROR = f"{type(e).__name__}: {e}"


def marks() -> list[Any]:
    """pytestmark for a virtio module: the marker, the in-guest skip, a generous timeout."""
    out: list[Any] = [
        pytest.mark.virtio,
        pytest.mark.skipif(IN_GUEST, reason="inside a guest: no QEMU-in-QEMU"),
    ]
    try:
        import pytest_timeout  # noqa: F401

        out.append(pytest.mark.timeout(2400))  # a first test also waits for the boot
    except ImportError:
        pass
    return out


def opted_in(config: pytest.Config, module_file: str) -> bool:
    if REQUIRE or "virtio" in (config.getoption("markexpr", "") or ""):
        return True
    here = Path(module_file).resolve()
    for a in config.args:
        try:
            if Path(str(a).split("::")[0]).resolve() == here:
                return True
        except OSError:
            pass
    return False


def unavailable(why: str) -> None:
    if REQUIRE:
        pytest.fail(f"virtio guest harness cannot run (VMZMQ_REQUIRE_VIRTIO=1): {why}")
    pytest.skip(f"virtio guest harness cannot run: {why}")


def prepare_or_skip(request: pytest.FixtureRequest) -> dict:
    if not opted_in(request.config, str(request.path)):
        pytest.skip("virtio guest tests run only when selected: -m virtio, the file by name, "
                    "or VMZMQ_REQUIRE_VIRTIO=1")
    if virtio_guest is None:
        unavailable(f"import virtio_guest failed: {IMPORT_ERROR}")
    try:
        return virtio_guest.prepare()
    except Exception as e:  # noqa: BLE001
        unavailable(f"prepare failed: {e}")
        raise


def boot(count: int) -> Iterator[Any]:
    """Boot ``count`` guests (CIDs 3, 4, ...) on one daemon for a module; yield the group.
    A boot failure fails (never skips) the tests that use it."""
    with virtio_guest.VirtioGuests(count=count, timeout=MODULE_LIFETIME) as gs:
        yield gs
