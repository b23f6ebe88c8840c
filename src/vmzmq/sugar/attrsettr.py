"""pyzmq's ``zmq.sugar.attrsettr``: a mixin that maps attribute access to ``set``/``get``.

``obj.linger = 0`` calls ``obj.set(zmq.LINGER, 0)`` and ``obj.linger`` calls
``obj.get(zmq.LINGER)``, for any name of a vmzmq constant; other new attributes are refused
(AttributeError) unless a class of the object defines or annotates them.

vmzmq's own Socket, Context and Frame follow the same rules but do not inherit this class:
a class with ``__getattr__`` makes every attribute load slower, and a socket's send and recv
are made of attribute loads (their options are properties instead).
"""

from __future__ import annotations

import errno
from typing import Any, TypeVar, Union

from .. import constants
from ..error import ZMQError

T = TypeVar("T")
OptValT = Union[str, bytes, int]  # noqa: UP007 - pyzmq's public alias, kept as it spells it


class AttributeSetter:
    """Options as attributes: the subclass provides ``set(option, value)`` and
    ``get(option)``, and may override ``_set_attr_opt`` / ``_get_attr_opt``."""

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self.__dict__:
            object.__setattr__(self, key, value)
            return
        for cls in type(self).__mro__:
            if key in cls.__dict__ or key in getattr(cls, "__annotations__", {}):
                object.__setattr__(self, key, value)
                return
        upper = key.upper()
        option = getattr(constants, upper, None)
        if option is None:
            raise AttributeError(f"{type(self).__name__} has no such option: {upper}")
        self._set_attr_opt(upper, option, value)

    def _set_attr_opt(self, name: str, opt: int, value: Any) -> None:
        """How ``obj.<name> = value`` sets option ``opt``: ``self.set(opt, value)``."""
        self.set(opt, value)

    def __getattr__(self, key: str) -> OptValT:
        upper = key.upper()
        option = getattr(constants, upper, None)
        if option is None:
            raise AttributeError(f"{type(self).__name__} has no such option: {upper}")
        try:
            return self._get_attr_opt(upper, option)
        except ZMQError as exc:
            # An option that cannot be read is no attribute (hasattr() and mocks rely on it).
            if exc.errno in (errno.EINVAL, errno.EFAULT):
                raise AttributeError(f"{key} attribute is write-only") from None
            raise

    def _get_attr_opt(self, name: str, opt: int) -> OptValT:
        """How ``obj.<name>`` reads option ``opt``: ``self.get(opt)``."""
        return self.get(opt)

    def get(self, option: int) -> OptValT:
        raise NotImplementedError("override in subclass")

    def set(self, option: int, value: Any) -> None:
        raise NotImplementedError("override in subclass")


__all__ = ["AttributeSetter"]
