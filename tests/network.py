"""Network stand-ins: a port nothing listens on, and the Celery app pointed at a broker."""

import socket
from contextlib import contextmanager

from kombu import pools

from portal.celery import app


def closed_port() -> int:
    """A loopback port that refuses connections (bound, released, never listened on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_broker_pools():
    # kombu keeps producer pools per broker URL in a registry of its own: without the
    # reset, the URL tested here would keep a pool whose connections are closed.
    pools.reset()
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def celery_publishing_to(broker_url: str):
    """Celery publishes for real (not eagerly) to ``broker_url`` inside the block."""
    saved = {"task_always_eager": app.conf.task_always_eager, "broker_url": app.conf.broker_url}
    _reset_broker_pools()
    app.conf.task_always_eager = False
    app.conf.broker_url = broker_url
    try:
        yield app
    finally:
        _reset_broker_pools()
        for key, value in saved.items():
            app.conf[key] = value
