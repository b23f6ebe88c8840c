"""Hand-made starting inputs for each harness: valid conversations the fuzzer mutates from
(a fuzzer rarely finds a whole READY with a compatible Socket-Type, or a CURVE peer's honest
choices, on its own). ``fuzz/run --seed`` writes them into the corpora; the merge keeps those
that still add coverage.
"""

from __future__ import annotations

from collections.abc import Callable

from vmzmq.zmtp.commands import command_body, encode_properties, error_body, ping_body
from vmzmq.zmtp.frames import encode_command, encode_message, frame_header
from vmzmq.zmtp.greeting import build_greeting
from vmzmq.zmtp.plain import hello_body
from vmzmq.zmtp.socket_types import SOCKET_TYPES


def _props(socket_type: str, **extra: bytes) -> bytes:
    return encode_properties({"Socket-Type": socket_type, **extra})


def _traffic() -> bytes:
    return b"".join(
        (
            encode_message([b"hello"]),
            encode_message([b"a", b"", b"c" * 300]),
            encode_command(ping_body(10, b"ctx")),
            encode_command(command_body(b"PONG", b"ctx")),
            encode_command(command_body(b"SUBSCRIBE", b"topic")),
            encode_command(command_body(b"CANCEL", b"topic")),
            encode_message([b"x" * 256]),
            encode_command(error_body(b"bye")),
        )
    )


def frames() -> list[bytes]:
    stream = b"".join(
        (
            encode_command(b"\x01enable data"),
            encode_message([b"one"]),
            encode_message([b"a", b"b" * 300, b""]),
            encode_command(b"\x06\x04limit"),
            encode_command(b"\x04unwrap"),
            frame_header(0, 6) + b"\x01part1",
            frame_header(0, 6) + b"\x00part2",
            encode_command(b"\x05plain again"),
            encode_message([b"z" * 3000]),
            encode_command(b"\x03stop"),
            encode_message([b"after the stop"]),
        )
    )
    out = []
    for config in (0x00, 0x01, 0x02, 0x03, 0x06, 0x53, 0x5B, 0x63, 0x73):
        out.append(bytes((config, 0, 0, 0, 7)) + stream)
    out.append(bytes((0x03, 0, 7, 1, 2)) + b"\x02" + (100000).to_bytes(8, "big") + b"big")
    out.append(bytes((0x03, 0, 9, 0, 3)) + b"\x03" + (70000).to_bytes(8, "big") + b"more")
    out.append(bytes((0x02, 6, 0, 0, 1)) + encode_command(b"\x00" * 300))
    out.append(bytes((0x03, 0, 0x0E, 0, 1)) + b"\x01\x00" * 1100)  # 17,600 empty MORE frames
    out.append(bytes((0x02, 0, 0, 0, 1)) + b"\x0d\x00" + b"\x06" + bytes(8) + b"\x02\xff" * 9)
    return out


def greeting() -> list[bytes]:
    out = []
    for pick, mechanism in ((0, b"NULL"), (1, b"PLAIN"), (2, b"CURVE")):
        out.append(bytes((pick,)) + build_greeting(mechanism, False))
        out.append(bytes((pick | 0x80,)) + build_greeting(mechanism, True, 0))
    out.append(b"\x00" + b"\xff" + bytes(8) + b"\x7f\x02\x00")  # a ZMTP 2.0 peer
    out.append(b"\x00\x01\x00")  # ZMTP 1.0
    out.append(b"\x03\x05HELLO" + build_greeting(b"HELLO", False))
    out.append(b"\x00" + build_greeting(b"PLAIN", False))  # mechanism mismatch
    return out


def _conn(scenario: int, ours: str, stream: bytes, config: int = 0, zap: int = 0o11) -> bytes:
    return bytes((scenario, SOCKET_TYPES.index(ours), config, zap, 0, 1)) + stream


def connection() -> list[bytes]:
    ready = encode_command(command_body(b"READY", _props("ROUTER", Identity=b"peer")))
    plain_hello = encode_command(hello_body(b"admin", b"secret"))
    initiate = encode_command(command_body(b"INITIATE", _props("ROUTER")))
    welcome = encode_command(command_body(b"WELCOME"))
    out = [
        _conn(0, "DEALER", ready + _traffic()),
        _conn(0, "DEALER", ready + _traffic(), config=0x01),
        _conn(0, "DEALER", ready + _traffic(), config=0x95),  # ZMTP 3.0, as-server, limit
        _conn(0, "SUB", encode_command(command_body(b"READY", _props("PUB"))) + _traffic()),
        _conn(0, "DEALER", build_greeting(b"NULL", False) + ready + _traffic(), config=0x02),
        _conn(0, "PAIR", ready),  # incompatible type
        _conn(6, "ROUTER", encode_command(command_body(b"READY", _props("DEALER"))) + _traffic()),
        _conn(1, "DEALER", ready + _traffic()),
        _conn(1, "DEALER", ready, zap=4),
        _conn(2, "DEALER", plain_hello + initiate + _traffic()),
        _conn(2, "DEALER", plain_hello + initiate, zap=0o33),
        _conn(3, "DEALER", welcome + ready + _traffic()),
        _conn(3, "DEALER", encode_command(b"\x05\x5eRROR\x03bad")),  # libzmq's PLAIN ERROR
        _conn(4, "DEALER", encode_command(command_body(b"HELLO", b"\x01\x00" + bytes(192)))),
        _conn(5, "DEALER", encode_command(command_body(b"WELCOME", bytes(160)))),
        _conn(4, "DEALER", encode_command(command_body(b"INITIATE", bytes(248)))),
    ]
    return out


def _sized2(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def commands() -> list[bytes]:
    props = _props("DEALER", Identity=b"id", **{"X-Long": b"v" * 300})
    short = _props("ROUTER")
    zap_frames = [b"", b"1.0", b"rid", b"200", b"OK", b"user", short]
    zap_reply = b"\x05\x03rid" + bytes((len(zap_frames),))
    zap_reply += b"".join(bytes((len(f),)) + f for f in zap_frames)
    hello = hello_body(b"u", b"p")[6:]
    return [
        b"\x00" + command_body(b"READY", props),
        b"\x01" + props,
        b"\x01" + b"\x04name\x00\x00\x00\x05value\x04NAME\x00\x00\x00\x00",
        b"\x02\x05Error",
        b"\x03\x00\x0aping-context-longer-than-16",
        b"\x04" + hello_body(b"user", b"pass")[6:],
        zap_reply,
        zap_reply.replace(b"\x03200", b"\x03400"),
        b"\x06\x00" + b"\x00" + _sized2(props),  # NULL: READY
        b"\x06\x01" + b"\x00" + _sized2(short) + b"\x01",  # NULL with ZAP, then a 200
        # PLAIN server: HELLO, ZAP 200, INITIATE; PLAIN client: WELCOME, READY
        b"\x07\x01" + b"\x06" + _sized2(hello) + b"\x00" + b"\x08" + _sized2(short),
        b"\x07\x00" + b"\x07" + _sized2(b"") + b"\x00" + _sized2(short),
        b"\x08" + _sized2(b"\x0bSocket-Type\x00\x00\x00\x03PUB") + b"socket-TYPE",
    ]


def _cmd(name_index: int, data: bytes) -> bytes:
    return bytes((name_index,)) + _sized2(data)


def curve() -> list[bytes]:
    out = [
        b"\x00\x01\x00" + _cmd(0, b"\x01\x00" + bytes(192)),  # server, stage 0: HELLO
        b"\x00\x00\x00" + _cmd(1, bytes(160)),  # client, stage 0: WELCOME
        b"\x00\x01\x01" + _cmd(2, bytes(248)),  # server, stage 1: INITIATE
        b"\x00\x00\x01" + _cmd(3, bytes(32)),  # client, stage 1: READY
        b"\x00\x01\x02" + b"\x04\x01\x01" + _sized2(b"\x00ping") + b"\x00" + b"\x04\x00"
        + _sized2(bytes(25)),
        b"\x00\x00\x02" + b"\x04\x01\x01" + _sized2(b"\x02\x04PING\x00\x01") + b"\x00"
        + _cmd(7, b"x"),
        b"\x00\x01\x02" + b"\x04\x01\x01" + _sized2(b"\x01" + bytes(range(20))) + b"\x03",
        b"\x00\x00\x02" + b"\x04\x01\x00" + bytes(8) + _sized2(b"\x01more") + b"\x00",
    ]
    # Connection modes: all-zero choices are the honest ones; then traffic ops.
    traffic = b"".join(
        (
            b"\x00" + _sized2(b"\x00hello"),  # MESSAGE [flags 0] "hello"
            b"\x01" + _sized2(b"\x01a"),  # MORE
            b"\x82" + _sized2(b"\x00b"),  # grown 16 times
            b"\xc2" + _sized2(b"\x00" + bytes(range(40))),  # grown 300 times: 12 KB
            b"\x07\x00\x02\x00\x0a",  # PING inside MESSAGE
            b"\x07\x02\x03sub",  # SUBSCRIBE inside MESSAGE
            b"\x03" + _sized2(b"\x03x"),  # reserved inner flags
            b"\x06" + _sized2(b"\x00") + (1).to_bytes(8, "big"),  # a replayed nonce
            b"\x05" + _sized2(b"\x00"),  # MESSAGE in a command frame
            b"\x04" + _sized2(b"\x00"),  # MESSAGE with MORE on the outer frame
            b"\x09\x03bye",  # ERROR
        )
    )
    dealer = SOCKET_TYPES.index("DEALER")
    router = SOCKET_TYPES.index("ROUTER")
    # ...then 2 octets: half the size of the message our side sends (checked by the peer).
    server_honest, client_honest = bytes(28) + b"\x08\x00", bytes(38) + b"\x00\x10"
    for config in (0x00, 0x01, 0x02, 0x06, 0x61):
        out.append(bytes((1, router, config, 1, 0, 3)) + server_honest + traffic)
        out.append(bytes((2, dealer, config, 0, 0, 3)) + client_honest + traffic)
    out.append(bytes((1, router, 0, 3, 0, 1)) + server_honest)  # ZAP 300
    out.append(bytes((1, router, 0, 0, 0, 1)) + b"\x01\x01\x05" + server_honest)  # bad version
    out.append(bytes((2, dealer, 0, 0, 0, 1)) + client_honest[:36] + b"\x01" + bytes(8))
    return out


def endpoints() -> list[bytes]:
    texts = {
        0: ["tcp://127.0.0.1:5555", "tcp://[::1]:*", "ipc://@name", "vmci://2:5555",
            "inproc://x", "udp://1.2.3.4:5", "tcp://*:0"],
        1: ["*:5555", "[::]:0", "host.example:65535", "[fe80::1%eth0]:1", "0.0.0.0:*"],
        2: ["10.0.0.1;127.0.0.1:5555", "*:0;[::1]:7", "localhost:1"],
        3: ["/tmp/x.sock", "@abstract", "*", "a" * 120],
        4: ["relative/path", "@", "*"],
        5: ["*:*", "@:5555", "4294967295:1", "-1:2", "0005:007"],
        6: ["2:5555", "*:1", "3:*"],
        7: ["*:*"],
        8: ["3:4"],
        9: ["/run/fc/v.sock:5555", "rel:0", "a:b:4294967295", "@x:1", "p:*"],
        10: ["/tmp/vm.sock:1024", "p:4294967296"],
    }  # fmt: skip
    out = [bytes((target,)) + text.encode() for target, items in texts.items() for text in items]
    return out + [b"\x0bOK 1073741824\nZMTP", b"\x0bOK", b"\x0bERR no listener\n"]


def options() -> list[bytes]:
    from vmzmq.constants import SocketOption as O
    from vmzmq.options import OPTIONS

    ids = sorted(OPTIONS)

    def op(operation: int, option: int, kind: int, payload: bytes) -> bytes:
        return bytes((operation, ids.index(option), kind)) + payload

    return [
        bytes((5,)) + op(0, O.SNDHWM, 2, b"\x03\xe8") + op(3, O.SNDHWM, 6, b""),
        bytes((6,)) + op(0, O.ROUTING_ID, 5, b"\x03abc") + op(0, O.ROUTER_MANDATORY, 8, b"\x01"),
        bytes((0x85,)) + op(0, O.TCP_ACCEPT_FILTER, 16, b"\x0a\x00\x00\x01\x01\x01\x18"),
        bytes((5,)) + op(0, O.CURVE_SERVERKEY, 14, bytes(41)),
        bytes((5,)) + op(0, O.METADATA, 15, b"\x01a\x01b") + op(0, O.METADATA, 15, b"\x00\x00"),
        bytes((2,)) + op(0, O.SUBSCRIBE, 5, b"\x01t") + op(0, O.PLAIN_USERNAME, 6, b""),
        bytes((5,)) + op(0, O.PRIORITY, 2, b"\x00\x07") + op(0, O.BINDTODEVICE, 5, b"\x02lo"),
        bytes((5,)) + op(6, ids[0], 2, b"\x00\x02") + op(5, O.RATE, 2, b"\x00\x64"),
        bytes((5,)) + op(0, O.HEARTBEAT_TTL, 3, b"\x00\x00\x12\x34") + op(7, ids[0], 6, b""),
    ]


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "frames": frames,
    "greeting": greeting,
    "connection": connection,
    "commands": commands,
    "curve": curve,
    "endpoints": endpoints,
    "options": options,
}
