"""Utilities, as pyzmq's ``zmq.utils``: :mod:`vmzmq.utils.monitor` (socket monitor messages)
and :mod:`vmzmq.utils.jsonapi` (the JSON helpers pyzmq code imports)."""
