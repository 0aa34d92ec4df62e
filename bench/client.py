"""A lean HTTP client (one keep-alive connection) so the client adds as little as possible."""

from __future__ import annotations

import http.client
import time
import urllib.parse
from dataclasses import dataclass

RETRYABLE = (http.client.RemoteDisconnected, http.client.CannotSendRequest,
             http.client.BadStatusLine, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes
    seconds: float


class Client:
    """GET requests over one persistent connection, reopened when the server closes it."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self, path: str, accept: str) -> Reply:
        """GET `path`; a timeout raises TimeoutError (the connection is dropped)."""
        headers = {"Accept": accept}
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request("GET", self.prefix + path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
            except TimeoutError:
                self.close()
                raise TimeoutError(f"no answer within {self.timeout:.0f} s") from None
            except RETRYABLE:
                self.close()
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            if resp.will_close:
                self.close()
            return Reply(resp.status, resp.getheader("Content-Type", ""), body, elapsed)
        raise AssertionError("unreachable")

    def query(self, endpoint_path: str, text: str, accept: str) -> Reply:
        """A SPARQL query by GET (SPARQL 1.1 Protocol, `query=` parameter)."""
        return self.get(f"{endpoint_path}?{urllib.parse.urlencode({'query': text})}", accept)
