"""Harness ``commands``: every command and property parser on arbitrary data.

Input layout::

    target (1)   which parser (TARGETS)
    payload      its input; for ``zap_reply`` a list of frames, each behind a one-octet
                 length, and for the mechanisms a list of commands, each a name choice and
                 data behind a two-octet length

Checked: only ProtocolError escapes; what parses re-encodes to the same octets (commands,
ERROR, HELLO, properties whose names are valid and distinct); PING's TTL and context are in
range; a ZAP reply that parses has the request id asked for and a known status code; NULL and
PLAIN mechanisms refuse out-of-turn commands with ProtocolError and nothing else.
"""

from __future__ import annotations

from fuzzkit import Reader, crash

from vmzmq.zmtp import commands, plain, zap
from vmzmq.zmtp.errors import ProtocolError
from vmzmq.zmtp.mechanism import Mechanism, NullMechanism
from vmzmq.zmtp.plain import PlainMechanism

TARGETS = ("command", "properties", "error", "ping", "hello", "zap_reply", "null", "plain",
           "get_property")  # fmt: skip
NAMES = (b"READY", b"ERROR", b"PING", b"PONG", b"SUBSCRIBE", b"CANCEL", b"HELLO", b"WELCOME",
         b"INITIATE", b"MESSAGE", b"", None)  # fmt: skip  (None: the name is fuzzed too)
ZAP_STATUSES = (b"200", b"300", b"400", b"500", b"201", b"")


def _properties(payload: bytes) -> None:
    props = commands.parse_properties(payload)
    for name, value in props.items():
        if type(name) is not str or type(value) is not bytes:
            raise crash(f"property {name!r}: {value!r:.80}")
    names = [name.encode("latin-1") for name in props]
    valid = all(set(n) <= commands._NAME_CHARS for n in names)
    # Distinct names read back in order: re-encoding gives the same octets.
    pos, count = 0, 0
    while pos < len(payload):
        pos += 1 + payload[pos]
        pos += 4 + int.from_bytes(payload[pos : pos + 4], "big")
        count += 1
    if valid and count == len(props) and commands.encode_properties(props) != payload:
        raise crash("properties do not re-encode to the same octets")
    for name in props:
        if name.isascii() and commands.get_property(props, name.swapcase()) is None:
            raise crash(f"get_property missed {name!r} in another case")


def _mechanism(mech: Mechanism, r: Reader, as_server: bool) -> None:
    replies = mech.start(as_server=as_server, properties={"Socket-Type": b"DEALER"})
    for body in replies:
        commands.parse_command(body)
    while r.remaining() and not mech.complete:
        name = r.choice(NAMES)
        if name is None:
            name = r.sized()
        data = r.sized(2)
        try:
            out = mech.process_command(name, data)
            if mech.zap_request is not None:
                status = r.choice(ZAP_STATUSES[:4] + (None,))
                reply = None if status is None else zap.ZapReply(status, b"t", b"u", {"X-A": b"b"})
                out += mech.zap_result(reply)
        except ProtocolError:
            return  # a failed handshake is over: the connection never calls it again
        for body in out:
            commands.parse_command(body)


def check(data: bytes) -> None:
    r = Reader(data)
    target = r.choice(TARGETS)
    try:
        if target == "command":
            payload = r.rest()
            name, rest = commands.parse_command(payload)
            if commands.command_body(name, rest) != payload:
                raise crash("command does not re-encode")
        elif target == "properties":
            _properties(r.rest())
        elif target == "error":
            payload = r.rest()
            reason = commands.parse_error(payload)
            if commands.error_body(reason) != b"\x05ERROR" + payload:
                raise crash("ERROR does not re-encode")
        elif target == "ping":
            ttl, context = commands.parse_ping(r.rest())
            if not 0 <= ttl <= 0xFFFF or len(context) > commands.PING_CONTEXT_MAX:
                raise crash(f"PING ttl {ttl} context {context!r}")
            commands.ping_body(ttl, context)
            commands.pong_body(context)
        elif target == "hello":
            payload = r.rest()
            username, password = plain.parse_hello(payload)
            if plain.hello_body(username, password) != b"\x05HELLO" + payload:
                raise crash("HELLO does not re-encode")
        elif target == "zap_reply":
            request_id = r.sized()
            frames = [r.sized() for _ in range(r.byte() % 10)]
            if r.flag() and len(frames) > 2:
                frames[2] = request_id  # the right id, so the later checks are reached
            reply = zap.parse_reply(frames, request_id)
            if reply.status_code not in zap.STATUS_CODES or frames[2] != request_id:
                raise crash(f"accepted {reply!r}")
            if reply.ok != (reply.status == 200):
                raise crash("ZapReply.ok disagrees with its status")
        elif target == "null":
            _mechanism(NullMechanism(zap_domain=b"d" if r.flag() else b""), r, False)
        elif target == "plain":
            server = r.flag()
            _mechanism(PlainMechanism(as_server=server, username=b"u", password=b"p"), r, server)
        else:
            props = commands.parse_properties(r.sized(2))
            commands.get_property(props, r.rest().decode("latin-1"))
    except ProtocolError:
        pass


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            check(f.read())
