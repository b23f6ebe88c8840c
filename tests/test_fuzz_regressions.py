"""Regression tests for the bugs the fuzzing campaign found (docs/fuzzing.md, "Findings").

Each test calls the public function that failed with the minimized input, and checks the
documented outcome; the harness's own view of the input is replayed too, through the harness
module's ``check`` (plain Python: atheris is not needed).
"""

from __future__ import annotations

import errno
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vmzmq.error import ZMQError
from vmzmq.transport import get_transport

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"


def harness(name: str) -> Callable[[bytes], None]:
    sys.path.insert(0, str(FUZZ))
    try:
        return importlib.import_module(f"fuzz_{name}").check  # type: ignore[no-any-return]
    finally:
        sys.path.remove(str(FUZZ))


# --- 1. tcp: a port of more than 4300 digits -------------------------------------------------
# int() refuses strings of more than 4300 digits (sys.get_int_max_str_digits) with ValueError,
# which escaped parse_bind/parse_connect instead of ZMQError(EINVAL). Leading zeros counted too.


@pytest.mark.parametrize(
    "address",
    [
        "h:" + "1" * 4352,
        "127.0.0.1:" + "9" * 5000,
        "[::1]:" + "0" * 4400 + "1" * 4400,
        "localhost:" + "1" * 4301,
    ],
)
@pytest.mark.parametrize("how", ["bind", "connect"])
def test_tcp_port_with_thousands_of_digits_is_einval(address: str, how: str) -> None:
    transport = get_transport("tcp")
    assert transport is not None
    parse = transport.parse_bind if how == "bind" else transport.parse_connect
    with pytest.raises(ZMQError) as info:
        parse("tcp", address)
    assert info.value.errno == errno.EINVAL
    assert "invalid port" in str(info.value)


def test_tcp_port_with_thousands_of_leading_zeros_is_the_port() -> None:
    """Leading zeros were always accepted ("0080" is 80): any number of them still are."""
    transport = get_transport("tcp")
    assert transport is not None
    assert transport.parse_connect("tcp", "h:" + "0" * 5000 + "80").port == 80
    assert transport.parse_bind("tcp", "h:" + "0" * 5000).port == 0


def test_tcp_long_port_through_the_endpoints_harness() -> None:
    # tcp parse_bind of "h:" then 0x1100 (4352) times "1": the minimized fuzz input.
    harness("endpoints")(b"\x01h:\xff\x11\x001")
    harness("endpoints")(b"\x02h:\xff\x11\x001")  # parse_connect


# --- 2. hvsock: the same, in the port of hvsock://PATH:PORT -----------------------------------
# Found by the endpoints harness within seconds of hvsock:// being added to it.


@pytest.mark.parametrize("port", ["1" * 14135, "0" * 4400 + "1" * 4400, "9" * 4301])
@pytest.mark.parametrize("how", ["bind", "connect"])
def test_hvsock_port_with_thousands_of_digits_is_einval(port: str, how: str) -> None:
    transport = get_transport("hvsock")
    assert transport is not None
    parse = transport.parse_bind if how == "bind" else transport.parse_connect
    with pytest.raises(ZMQError) as info:
        parse("hvsock", f"/run/vm.sock:{port}")
    assert info.value.errno == errno.EINVAL
    assert "above 2^32-1" in str(info.value)


def test_hvsock_port_with_thousands_of_leading_zeros_is_the_port() -> None:
    transport = get_transport("hvsock")
    assert transport is not None
    target = transport.parse_connect("hvsock", "/run/vm.sock:" + "0" * 5000 + "5555")
    assert target.port == 5555
    assert target.text == "hvsock:///run/vm.sock:5555"


def test_hvsock_long_port_through_the_endpoints_harness() -> None:
    # The fuzzer's input as found: hvsock-connect of "4p:2949", then "9" repeated 0x3732
    # times (0xFF: repeat), then "6": a port of 14,135 digits.
    harness("endpoints")(b"\x0a4p:2949\xff7296")
