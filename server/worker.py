"""The gunicorn worker class of `rabat-kg serve`: gthread, with the next kept-alive request
answered by the thread that answered the last one.

gunicorn's gthread worker hands every request on a kept-alive connection from its main thread
(epoll) to a pool thread, and the connection back again afterwards (a queue, a pipe write,
a wake-up of the main thread, poller registrations): two thread hand-offs, a handful of
system calls and some Python per request (funder join at 7k triples, 4 clients: 1,143 req/s
with gthread, 1,396 and 1,606 with this worker). So after an answer the thread waits on the
connection itself and, if a request comes, answers it directly; otherwise the connection goes
back to the main thread's poller as before.

How long it waits: clients that keep a connection alive (SPARQL libraries, the benchmark, a
browser fetching a page's parts) usually send their next request within a millisecond, and a
script that reads each answer before asking again within tens of milliseconds. A thread waits
in slices of LINGER_S, for up to LONG_LINGER_S while no request waits for a thread of this
worker; when one does, the thread lets its quiet connection go at the end of the slice. So an
idle client never holds a thread another request needs for more than LINGER_S, and a client
pausing between requests is answered with one wake-up instead of two hand-offs (at 701k
triples, client send to application 0.45-0.48 ms against 0.56-0.65 ms after a pause of
15-20 ms; measured with timestamps in the worker, not kept).
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

LINGER_S = 0.005
LONG_LINGER_S = 1.0


class LingeringThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread whose threads keep serving a connection while requests keep coming."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queued = 0  # requests handed to the thread pool and not yet taken by a thread
        self.queued_lock = threading.Lock()

    def enqueue_req(self, conn: Any) -> None:
        with self.queued_lock:
            self.queued += 1
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        """Answer requests on `conn` while the next one comes before the thread is needed."""
        with self.queued_lock:
            self.queued -= 1
        keep = super().handle(conn)
        while keep is True and self.next_request(conn):
            keep = super().handle(conn)
        return keep

    def next_request(self, conn: Any) -> bool:
        """Whether another request arrives on `conn` while this thread may wait for it."""
        if conn.parser.unreader.buf.getvalue():  # read ahead with the last request
            return True
        limit = time.monotonic() + min(LONG_LINGER_S, float(self.cfg.keepalive or 0))
        poller = select.poll()  # not select(): descriptors above 1023 are fine
        try:
            poller.register(conn.sock, select.POLLIN)
            while self.alive:
                if poller.poll(LINGER_S * 1000):
                    return True
                if self.queued > 0 or time.monotonic() >= limit:
                    return False
        except (OSError, ValueError):  # closed meanwhile: the caller's next read says so
            pass
        return False
