"""Z85 (RFC 32): the RFC's test vector, round trips, every class of bad input (ValueError and
nothing else), and agreement with pyzmq's ``zmq.utils.z85``."""

from __future__ import annotations

import array

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zmq.utils import z85 as pyzmq_z85

from vmzmq.utils import z85

ALPHABET = z85.Z85CHARS.decode("ascii")
NOT_IN_ALPHABET = [b for b in range(256) if b not in z85.Z85CHARS]

# Data of a length Z85 can encode: a whole number of 4-byte groups.
groups = st.integers(0, 64).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))


def test_rfc32_test_vector() -> None:
    data = bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
    assert z85.encode(data) == b"HelloWorld"
    assert z85.decode(b"HelloWorld") == data
    assert z85.decode("HelloWorld") == data


def test_alphabet_is_rfc32s() -> None:
    assert len(z85.Z85CHARS) == 85 == len(set(z85.Z85CHARS))
    assert z85.encode(b"\x00\x00\x00\x00") == b"00000"
    assert z85.encode(b"\x00\x00\x00\x54") == b"0000#"  # digit 84: the last character


def test_extremes() -> None:
    assert z85.encode(b"") == b"" and z85.decode(b"") == b""
    assert z85.decode(z85.encode(b"\xff" * 4)) == b"\xff" * 4
    assert z85.encode(b"\xff" * 4) == b"%nSc0"


@given(groups)
def test_round_trip(data: bytes) -> None:
    text = z85.encode(data)
    assert isinstance(text, bytes) and len(text) == len(data) // 4 * 5
    assert z85.decode(text) == data
    assert z85.decode(text.decode("ascii")) == data


@given(groups)
def test_same_as_pyzmq(data: bytes) -> None:
    assert z85.encode(data) == pyzmq_z85.encode(data)
    assert z85.decode(pyzmq_z85.encode(data)) == data
    assert pyzmq_z85.decode(z85.encode(data)) == data


@given(st.text(alphabet=ALPHABET, min_size=5, max_size=5))
def test_any_group_decodes_as_pyzmq_or_overflows(group: str) -> None:
    value = 0
    for ch in group:
        value = value * 85 + ALPHABET.index(ch)
    if value >= 1 << 32:
        with pytest.raises(ValueError, match="32 bits"):
            z85.decode(group)
    else:
        assert z85.decode(group) == pyzmq_z85.decode(group) == value.to_bytes(4, "big")


@given(groups)
def test_other_buffers_encode_like_bytes(data: bytes) -> None:
    assert z85.encode(bytearray(data)) == z85.encode(memoryview(data)) == z85.encode(data)
    text = z85.encode(data)
    assert z85.decode(bytearray(text)) == z85.decode(memoryview(text)) == data


def test_buffer_length_is_counted_in_bytes() -> None:
    words = array.array("I", [1, 2])  # 2 items, 8 bytes
    assert z85.decode(z85.encode(words)) == words.tobytes()


@given(st.binary().filter(lambda b: len(b) % 4))
def test_encode_length_not_multiple_of_4(data: bytes) -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        z85.encode(data)


@given(st.text(alphabet=ALPHABET).filter(lambda t: len(t) % 5))
def test_decode_length_not_multiple_of_5(text: str) -> None:
    with pytest.raises(ValueError, match="multiple of 5"):
        z85.decode(text)


@pytest.mark.parametrize("byte", NOT_IN_ALPHABET)
def test_decode_character_outside_alphabet(byte: int) -> None:
    for where in (0, 4, 7):  # first, last of a group, inside a later group
        text = bytearray(b"HelloWorld")
        text[where] = byte
        with pytest.raises(ValueError, match=f"at offset {where} is not a Z85 character"):
            z85.decode(bytes(text))


def test_decode_non_ascii_str() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        z85.decode("Hell\u00f6")


@pytest.mark.parametrize(
    "text",
    [
        "#####",  # the largest five digits: 85**5 - 1
        "%nSc1",  # 2**32, one more than four bytes hold
        "HelloWorld%nSc1",  # a bad group after good ones
    ],
)
def test_decode_overflow(text: str) -> None:
    with pytest.raises(ValueError, match="32 bits"):
        z85.decode(text)


@pytest.mark.parametrize("bad", [None, 5, 1.5, object(), ["Hello"], {"a": 1}])
def test_decode_wrong_type(bad: object) -> None:
    with pytest.raises(ValueError, match="bytes-like"):
        z85.decode(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abcd", None, 4, 1.5, object(), [1, 2, 3, 4]])
def test_encode_wrong_type(bad: object) -> None:
    with pytest.raises(ValueError):
        z85.encode(bad)  # type: ignore[arg-type]
