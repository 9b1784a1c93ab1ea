"""Ports for the servers a test or a bench starts beside each other on this host.

Asked for a free port, the system now and then offers one it offered a moment ago (about one
draw of ten ports in 250 repeats one). Two servers of one run given the same port leave one
unable to bind while the other answers for both, so a port is handed out once per process.
"""
from __future__ import annotations

import socket

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now that this process has not handed out before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
