"""Decorators that give a function a fresh Context or Socket for each call (pyzmq's
``zmq.decorators``).

::

    @context()
    @socket(zmq.PUSH)
    def work(ctx, push):
        ...

Every call of ``work`` gets a new context and a new PUSH socket, appended to its positional
arguments in decorator order, and both are closed when the call returns or raises. A name
(``@socket("push", zmq.PUSH)`` or ``@socket(zmq.PUSH, name="push")``) passes the object as
that keyword argument instead. Any other arguments go to ``Context()`` or
``Context.socket()``.

A socket's context is, in this order: the call's keyword argument named by ``context_name``
(default ``"context"``) if it is a Context, the first positional Context argument (so a
``@context()`` above supplies it), else ``Context.instance()``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from .context import Context

__all__ = ["context", "socket"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Builds what one call of the decorated function gets, from that call's arguments.
_Factory = Callable[[tuple[Any, ...], dict[str, Any]], AbstractContextManager[Any]]


def context(*args: Any, **kwargs: Any) -> Callable[[_F], _F]:
    """Give each call of the decorated function a new ``Context(*args, **kwargs)``,
    destroyed when the call ends (any socket still open in it is closed, with a
    ResourceWarning).

    ``name`` (keyword, or a first positional string): pass it as that keyword argument
    instead of appending it to the positional ones."""
    name, args, kwargs = _take_name(args, kwargs)

    def make(_call_args: tuple[Any, ...], _call_kwargs: dict[str, Any]) -> Any:
        # Leaving a Context's ``with`` block destroys it: sockets still open are closed,
        # with a ResourceWarning each, rather than left for term() to wait on (pyzmq 24+).
        return Context(*args, **kwargs)

    return _decorator(name, make)


def socket(*args: Any, **kwargs: Any) -> Callable[[_F], _F]:
    """Give each call of the decorated function a new ``ctx.socket(*args, **kwargs)``,
    closed when the call ends.

    ``name`` as for :func:`context`; ``context_name`` (keyword, default ``"context"``): the
    call's keyword argument to take the context from, if it holds one."""
    name, args, kwargs = _take_name(args, kwargs)
    context_name = kwargs.pop("context_name", "context")

    def make(call_args: tuple[Any, ...], call_kwargs: dict[str, Any]) -> Any:
        ctx = _find_context(context_name, call_args, call_kwargs)
        return ctx.socket(*args, **kwargs)

    return _decorator(name, make)


def _take_name(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    """Split the decorator's own ``name`` off the arguments meant for the factory."""
    if isinstance(kwargs.get("name"), str):
        kwargs = dict(kwargs)
        return kwargs.pop("name"), args, kwargs
    if args and isinstance(args[0], str):
        return args[0], args[1:], kwargs
    return None, args, kwargs


def _find_context(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Context:
    candidate = kwargs.get(name)
    if isinstance(candidate, Context):
        return candidate
    for arg in args:
        if isinstance(arg, Context):
            return arg
    return Context.instance()


def _decorator(name: str | None, make: _Factory) -> Callable[[_F], _F]:
    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(*call_args: Any, **call_kwargs: Any) -> Any:
            if name is not None and name in call_kwargs:
                # Checked before anything is made, so a wrong call leaves nothing to close.
                raise TypeError(
                    f"{func.__name__}() got multiple values for argument {name!r}"
                )
            with make(call_args, call_kwargs) as obj:
                if name is None:
                    call_args = (*call_args, obj)
                else:
                    call_kwargs[name] = obj
                return func(*call_args, **call_kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
