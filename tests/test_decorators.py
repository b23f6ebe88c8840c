"""vmzmq.decorators: @context() and @socket() give each call fresh, working objects and close
them when the call ends, as pyzmq's zmq.decorators do."""

from __future__ import annotations

import pytest

import vmzmq as zmq
from interop_helpers import recv_within
from vmzmq.decorators import context, socket


def test_context_is_appended_and_destroyed() -> None:
    seen = []

    @context()
    def work(a, ctx):
        seen.append(ctx)
        assert isinstance(ctx, zmq.Context)
        assert not ctx.closed
        return a * 2

    assert work(21) == 42
    assert seen[0].closed
    work(1)
    assert seen[1] is not seen[0]  # one per call


def test_socket_works_and_is_closed_after_the_call() -> None:
    kept = []

    @context()
    @socket(zmq.PULL)
    @socket(zmq.PUSH)
    def work(ctx, pull, push):
        kept.extend([ctx, pull, push])
        assert pull.type == zmq.PULL and push.type == zmq.PUSH
        assert pull.context is ctx and push.context is ctx  # taken from @context above
        endpoint = f"tcp://127.0.0.1:{pull.bind_to_random_port('tcp://127.0.0.1')}"
        push.connect(endpoint)
        push.send(b"through")
        return recv_within(pull)

    assert work() == [b"through"]
    ctx, pull, push = kept
    assert pull.closed and push.closed and ctx.closed


def test_names_pass_keyword_arguments() -> None:
    # As in pyzmq, a socket finds a named context only when told its name.
    @context("ctx")
    @socket("req", zmq.REQ, context_name="ctx")
    @socket(zmq.REP, name="rep", context_name="ctx")
    def work(label, *, ctx, req, rep):
        assert req.context is ctx and rep.context is ctx
        rep.bind("inproc://decorated")
        req.connect("inproc://decorated")
        req.send(label)
        rep.send(recv_within(rep)[0] + b"!")
        return recv_within(req)

    assert work(b"hi") == [b"hi!"]


def test_socket_context_from_keyword_argument() -> None:
    with zmq.Context() as mine:
        got = []

        @socket(zmq.PUB, context_name="where")
        def work(pub, *, where):
            got.append(pub)
            return pub.context

        assert work(where=mine) is mine
        assert got[0].closed
        assert not mine.closed  # a context the caller gave is not the decorator's to close


def test_socket_context_from_positional_argument() -> None:
    with zmq.Context() as mine:

        @socket(zmq.PAIR)
        def work(label, ctx, pair):
            return pair.context

        assert work("x", mine) is mine


def test_socket_without_context_uses_the_instance() -> None:
    @socket(zmq.DEALER)
    def work(dealer):
        return dealer.context

    assert work() is zmq.Context.instance()


def test_named_context_not_told_to_the_socket_is_not_used() -> None:
    @context("ctx")
    @socket(zmq.DEALER)
    def work(dealer, *, ctx):
        return dealer.context is ctx, dealer.context is zmq.Context.instance()

    assert work() == (False, True)  # pyzmq's rule: only context_name's argument is looked at


def test_options_reach_the_factories() -> None:
    @context(io_threads=2)
    @socket(zmq.SUB, socket_class=zmq.Socket)
    def work(ctx, sub):
        return ctx.io_threads, type(sub)

    assert work() == (2, zmq.Socket)


def test_name_given_twice_is_a_type_error_and_makes_nothing() -> None:
    @socket(zmq.PUSH, name="push")
    def work(push):
        raise AssertionError("must not be called")

    with pytest.raises(TypeError, match="work\\(\\) got multiple values for argument 'push'"):
        work(push=None)


def test_closed_when_the_function_raises() -> None:
    kept = []

    @context()
    @socket(zmq.PUSH)
    def work(ctx, push):
        kept.extend([ctx, push])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        work()
    assert kept[1].closed and kept[0].closed


def test_a_socket_left_open_is_closed_with_the_context() -> None:
    kept = []

    @context()
    def work(ctx):
        # Left open: the call must still return (a term() would wait for it for ever).
        sock = ctx.socket(zmq.PUSH)
        sock.connect("tcp://127.0.0.1:1")
        kept.append(sock)

    with pytest.warns(ResourceWarning):  # as pyzmq: an unclosed socket is worth a warning
        work()
    assert kept[0].closed


def test_metadata_is_kept() -> None:
    @context()
    def documented(ctx):
        """Says what it does."""

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Says what it does."
