"""vmzmq.constants against pyzmq's zmq.constants: same enums, same members, same values."""

from __future__ import annotations

import errno
from enum import Enum, IntEnum, IntFlag

import pytest
import zmq as pyzmq  # a test dependency (the reference): missing, this fails
import zmq.constants as pyzmq_constants

from vmzmq import constants, error

# Members we define and pyzmq does not, with the reason. Nothing else may differ.
EXTRA_MEMBERS: dict[str, set[str]] = {
    # libzmq's zmq_ctx_set/get accept ZMQ_IPV6 (42) and ZMQ_BLOCKY (70); pyzmq only reaches them
    # through the SocketOption numbers.
    "ContextOption": {"IPV6", "BLOCKY"},
    # errno names vmzmq raises (ipc paths, vsock devices, fd limits) that pyzmq's enum lacks.
    "Errno": {"ENOENT", "ENODEV", "EINTR", "ENOMEM", "EACCES", "ENAMETOOLONG", "EMFILE"},
}
# Flat names in pyzmq's constants.__all__ that we leave out, with the reason.
MISSING_FLAT = {
    # pyzmq re-exports the enum base classes from its constants module; they are not constants.
    "Enum",
    "IntEnum",
    "IntFlag",
}
# Flat names of ours that pyzmq's constants.__all__ lacks, with the reason.
EXTRA_FLAT = {
    # pyzmq exports these three from the zmq package rather than zmq.constants (compared below).
    "DRAFT_API",
    "COPY_THRESHOLD",
    "IPC_PATH_MAX_LEN",
} | EXTRA_MEMBERS["Errno"]

ENUM_NAMES = [
    "ContextOption",
    "DeviceType",
    "Errno",
    "Event",
    "Flag",
    "MessageOption",
    "NormMode",
    "PollEvent",
    "ReconnectStop",
    "RouterNotify",
    "SecurityMechanism",
    "SocketOption",
    "SocketType",
]
# pyzmq's flat-name prefixes; PROTOCOL_ERROR_* events keep their own names.
PREFIX = {"Event": "EVENT_", "RouterNotify": "NOTIFY_", "ReconnectStop": "RECONNECT_STOP_"}
PREFIX["NormMode"] = "NORM_"


def flat_name(enum_name: str, member: str) -> str:
    if enum_name == "Event" and member.startswith("PROTOCOL_ERROR_"):
        return member
    return PREFIX.get(enum_name, "") + member


def test_pyzmq_has_no_enum_we_lack() -> None:
    theirs = {
        name
        for name, value in vars(pyzmq_constants).items()
        if isinstance(value, type)
        and issubclass(value, Enum)
        and value.__module__ == pyzmq_constants.__name__
    }
    assert theirs - {"_OptType"} == set(ENUM_NAMES)


@pytest.mark.parametrize("enum_name", ENUM_NAMES)
def test_enum_members_equal_pyzmq(enum_name: str) -> None:
    ours = getattr(constants, enum_name)
    theirs = getattr(pyzmq_constants, enum_name)
    # Same kind of enum (IntFlag where pyzmq has IntFlag, so bit operations behave alike).
    base = IntFlag if issubclass(theirs, IntFlag) else IntEnum
    assert issubclass(ours, base)
    assert issubclass(theirs, base)
    ours_members = ours.__members__
    theirs_members = theirs.__members__
    assert set(ours_members) - set(theirs_members) == EXTRA_MEMBERS.get(enum_name, set())
    assert set(theirs_members) - set(ours_members) == set()
    for name, member in theirs_members.items():
        assert int(ours_members[name]) == int(member), name
        # Aliases alias the same canonical member (XREQ -> DEALER, ALL -> ALL_V1...).
        assert ours_members[name].name == member.name, name


def test_opt_types_equal_pyzmq() -> None:
    for name, member in pyzmq_constants.SocketOption.__members__.items():
        ours = constants.SocketOption[name]
        assert ours._opt_type.value == member._opt_type.value, name
    assert [t.value for t in constants._OptType] == [t.value for t in pyzmq_constants._OptType]


def test_flat_names_equal_pyzmq() -> None:
    theirs = set(pyzmq_constants.__all__)
    ours = set(constants.__all__)
    assert theirs - ours == MISSING_FLAT
    assert ours - theirs == EXTRA_FLAT | set(ENUM_NAMES) - theirs
    for name in theirs - MISSING_FLAT:
        their_value = getattr(pyzmq_constants, name)
        our_value = getattr(constants, name)
        if isinstance(their_value, type):
            assert our_value.__name__ == their_value.__name__
            continue
        assert int(our_value) == int(their_value), name
        # The flat name is the enum member itself, of the same enum as pyzmq's.
        assert type(our_value).__name__ == type(their_value).__name__, name


def test_package_level_values_equal_pyzmq() -> None:
    assert constants.DRAFT_API == pyzmq.DRAFT_API is False
    assert constants.COPY_THRESHOLD == pyzmq.COPY_THRESHOLD
    assert constants.IPC_PATH_MAX_LEN == pyzmq.IPC_PATH_MAX_LEN


@pytest.mark.parametrize("enum_name", ENUM_NAMES)
def test_every_member_is_a_flat_name(enum_name: str) -> None:
    enum = getattr(constants, enum_name)
    for name, member in enum.__members__.items():
        if enum_name == "ContextOption" and name in EXTRA_MEMBERS["ContextOption"]:
            # The flat IPV6 and BLOCKY are the socket options, as in pyzmq.
            assert getattr(constants, name) is constants.SocketOption[name]
            continue
        flat = flat_name(enum_name, name)
        assert getattr(constants, flat) is member, flat
        assert flat in constants.__all__, flat


def test_all_lists_every_public_name_once() -> None:
    names = constants.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(constants, name), name
    public = {
        name
        for name, value in vars(constants).items()
        if not name.startswith("_")
        and (name.isupper() or (isinstance(value, type) and value.__module__ == constants.__name__))
    }
    assert public == set(names)


def test_errno_values() -> None:
    for member in constants.Errno:
        if member.name in {"EFSM", "ENOCOMPATPROTO", "ETERM", "EMTHREAD"}:
            assert member == getattr(error, member.name)
            assert (
                member
                == error.ZMQ_HAUSNUMERO
                + {"EFSM": 51, "ENOCOMPATPROTO": 52, "ETERM": 53, "EMTHREAD": 54}[member.name]
            )
        else:
            assert member == getattr(errno, member.name)
    # The Linux numbers the wire-level code and the tests assume.
    linux = {"EAGAIN": 11, "EINVAL": 22, "ENOTSUP": 95, "EADDRINUSE": 98, "ECONNREFUSED": 111}
    for name, value in linux.items():
        assert constants.Errno[name] == value


def test_spot_values() -> None:
    c = constants
    assert (c.PAIR, c.PUB, c.STREAM, c.SERVER, c.CHANNEL) == (0, 1, 11, 12, 20)
    assert c.XREQ is c.DEALER and c.XREP is c.ROUTER
    assert c.IDENTITY is c.ROUTING_ID == 5
    assert c.CONNECT_RID is c.CONNECT_ROUTING_ID == 61
    assert c.HWM == 1 and c.LAST_ENDPOINT == 32
    assert (c.VMCI_BUFFER_SIZE, c.VMCI_BUFFER_MIN_SIZE) == (85, 86)
    assert (c.VMCI_BUFFER_MAX_SIZE, c.VMCI_CONNECT_TIMEOUT) == (87, 88)
    assert c.TOPICS_COUNT == 116 and c.NORM_PUSH == 124
    assert c.DONTWAIT is c.NOBLOCK == 1 and c.SNDMORE == 2
    assert (c.MORE, c.SRCFD, c.SHARED) == (1, 2, 3)
    assert (c.POLLIN, c.POLLOUT, c.POLLERR, c.POLLPRI) == (1, 2, 4, 8)
    assert c.EVENT_CONNECTED == 1 and c.EVENT_HANDSHAKE_FAILED_AUTH == 0x4000
    assert c.EVENT_ALL == 0xFFFF and c.EVENT_PIPES_STATS == 0x10000
    assert c.EVENT_ALL_V2 == 0x1FFFF
    assert c.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH == 0x11000002
    assert c.PROTOCOL_ERROR_ZAP_INVALID_METADATA == 0x20000005
    assert c.ContextOption.THREAD_PRIORITY is c.ContextOption.SOCKET_LIMIT == 3
    assert (c.ContextOption.IPV6, c.ContextOption.BLOCKY) == (42, 70)
    assert c.IPV6 is c.SocketOption.IPV6 and c.BLOCKY is c.SocketOption.BLOCKY
    assert (c.NULL, c.PLAIN, c.CURVE, c.GSSAPI) == (0, 1, 2, 3)
    assert (c.NOTIFY_CONNECT, c.NOTIFY_DISCONNECT) == (1, 2)
    assert c.RECONNECT_STOP_AFTER_DISCONNECT == 4
    assert (c.STREAMER, c.FORWARDER, c.QUEUE) == (1, 2, 3)
    assert c.NORM_CCE_ECNONLY == 4
    assert c.EAGAIN == 11 and c.ETERM == 156384765
