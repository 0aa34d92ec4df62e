"""The gunicorn worker class of `rabat-kg serve`: gthread, with the next kept-alive request
answered by the thread that answered the last one.

gunicorn's gthread worker hands every request on a kept-alive connection from its main thread
(epoll) to a pool thread, and the connection back again afterwards (a queue, a pipe write,
a wake-up of the main thread, poller registrations): two thread hand-offs, a handful of
system calls and some Python per request (funder join at 7k triples, 4 clients: 1,143 req/s
with gthread, 1,396 and 1,606 with this worker). Clients that keep a connection alive (SPARQL
libraries, the benchmark, a browser fetching a page's parts) usually send their next request
within a millisecond. So after an answer the thread waits up to LINGER_S on the connection
itself and, if a request comes, answers it directly; otherwise the connection goes back to the
main thread's poller as before. A thread waits at most LINGER_S, so an idle client cannot hold it.
"""

from __future__ import annotations

import select
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

LINGER_S = 0.005


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread whose threads keep serving a connection while requests keep coming."""

    def handle(self, conn: Any) -> Any:
        """Answer requests on `conn` while the next one arrives within LINGER_S."""
        keep = super().handle(conn)
        while keep is True and self.alive and _next_request_within(conn, LINGER_S):
            keep = super().handle(conn)
        return keep


def _next_request_within(conn: Any, seconds: float) -> bool:
    """Whether bytes of another request are buffered or arrive on `conn` within `seconds`."""
    if conn.parser.unreader.buf.getvalue():  # read ahead with the last request
        return True
    poller = select.poll()  # not select(): descriptors above 1023 are fine
    try:
        poller.register(conn.sock, select.POLLIN)
        return bool(poller.poll(seconds * 1000))
    except (OSError, ValueError):  # closed meanwhile: the caller's next read says so
        return False
