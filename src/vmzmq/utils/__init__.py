"""Utilities, as pyzmq's ``zmq.utils``: :mod:`~vmzmq.utils.monitor` (socket monitor
messages), :mod:`~vmzmq.utils.jsonapi` (JSON helpers), :mod:`~vmzmq.utils.z85`,
:mod:`~vmzmq.utils.garbage` (pyzmq's zero-copy collector: nothing to collect in vmzmq),
:mod:`~vmzmq.utils.interop` (addresses as ints) and :mod:`~vmzmq.utils.strtypes`
(deprecated str/bytes helpers)."""
