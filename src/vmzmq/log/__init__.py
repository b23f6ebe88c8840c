"""Logging over ZeroMQ (pyzmq's ``zmq.log``).

``vmzmq.log.handlers``: ``PUBHandler`` publishes log records on a PUB socket, ``TopicLogger``
adds a topic argument to a logger's methods. ``python -m vmzmq.log URL`` subscribes to such
a publisher and prints what it receives.
"""
