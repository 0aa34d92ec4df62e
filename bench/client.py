"""A lean HTTP/1.1 client (one keep-alive socket) so the client adds as little as possible.

The benchmark's clients share the machine's cores with the server under test, so every
microsecond a client spends is taken from the server. `http.client` costs about 200 us per
request in Python; this client writes the request line and headers itself and reads the answer
with a few `recv_into` calls into one buffer (about a quarter of that). It speaks what both
servers under test answer: Content-Length or chunked bodies, keep-alive or close.
"""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
from dataclasses import dataclass

RETRYABLE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_ENGINE_DUR = re.compile(r"\bengine;dur=([0-9.]+)")


class ServerClosed(ConnectionError):
    """The server closed the connection before a whole answer arrived."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    data: bytes | memoryview  # may be a view of the client's buffer: valid until its next request
    seconds: float
    engine_ms: float | None = None  # the server's `Server-Timing: engine;dur=` (ours says it)

    @property
    def body(self) -> bytes:
        """The body as bytes (a copy, made when asked for: after the clock)."""
        return bytes(self.data)


class Client:
    """GET requests over one persistent connection, reopened when the server closes it."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = bytearray(1 << 16)
        # Bodies are read into this buffer, kept from one answer to the next: reading a large
        # answer into fresh memory would page-fault on all of it each time (glibc hands blocks
        # over 128 KB back to the kernel on free), 0.7 ms for 838 KB on the benchmark machine.
        # A streaming client (curl) does not pay that either.
        self.body_buf = bytearray(1 << 16)
        self.pending = b""  # bytes read past the end of the previous answer
        self.host_header = f"{self.host}:{self.port}".encode()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.pending = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        return sock

    def get(self, path: str, accept: str) -> Reply:
        """GET `path`; a timeout raises TimeoutError (the connection is dropped)."""
        request = (b"GET " + (self.prefix + path).encode() + b" HTTP/1.1\r\nHost: " + self.host_header
                   + b"\r\nAccept: " + accept.encode() + b"\r\nAccept-Encoding: identity\r\n\r\n")
        for attempt in (0, 1):
            reused = self.sock is not None
            sock = self.sock or self._connect()
            started = time.perf_counter()
            try:
                sock.sendall(request)
                status, headers, body = self._read_answer(sock)
            except TimeoutError:
                self.close()
                raise TimeoutError(f"no answer within {self.timeout:.0f} s") from None
            except (ServerClosed, *RETRYABLE):
                self.close()
                if attempt or not reused:
                    raise
                continue  # a kept-alive connection the server had closed: once more, fresh
            elapsed = time.perf_counter() - started
            if headers.get("connection", "").lower() == "close":
                self.close()
            timing = _ENGINE_DUR.search(headers.get("server-timing", ""))
            return Reply(status, headers.get("content-type", ""), body, elapsed,
                         float(timing.group(1)) if timing else None)
        raise AssertionError("unreachable")

    def _read_answer(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes | memoryview]:
        data = self.pending
        while b"\r\n\r\n" not in data:
            data += self._recv(sock)
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            size = int(headers["content-length"])
            if len(rest) >= size:
                return status, headers, self._keep_rest(rest, size)
            if len(self.body_buf) < size:
                self.body_buf = bytearray(max(size, 2 * len(self.body_buf)))
            view = memoryview(self.body_buf)
            view[: len(rest)] = rest
            have = len(rest)
            while have < size:  # exactly the body: nothing of a next answer is read
                n = sock.recv_into(view[have:size])
                if n == 0:
                    raise ServerClosed("the server closed the connection")
                have += n
            self.pending = b""
            return status, headers, view[:size]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body, self.pending = self._read_chunked(sock, rest)
        else:  # body until the server closes
            chunks = [rest]
            while chunk := self._recv(sock, eof_ok=True):
                chunks.append(chunk)
            body, self.pending = b"".join(chunks), b""
            headers["connection"] = "close"
        return status, headers, body

    def _keep_rest(self, data: bytes, size: int) -> bytes:
        """The body (`size` bytes at the start of `data`); what follows waits for the next answer."""
        self.pending = data[size:]
        return data[:size]

    def _read_chunked(self, sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
        out = []
        while True:
            while b"\r\n" not in data:
                data += self._recv(sock)
            line, _, data = data.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(data) < size + 2:
                data += self._recv(sock)
            out.append(data[:size])
            data = data[size + 2:]
            if size == 0:
                return b"".join(out), data

    def _recv(self, sock: socket.socket, want: int = 1 << 16, eof_ok: bool = False) -> bytes:
        view = memoryview(self.buf)[: min(len(self.buf), max(want, 1 << 12))]
        n = sock.recv_into(view)
        if n == 0 and not eof_ok:
            raise ServerClosed("the server closed the connection")
        return bytes(view[:n])

    def query(self, endpoint_path: str, text: str, accept: str) -> Reply:
        """A SPARQL query by GET (SPARQL 1.1 Protocol, `query=` parameter)."""
        return self.get(query_path(endpoint_path, text), accept)


def query_path(endpoint_path: str, text: str) -> str:
    """The path and query string of a SPARQL query by GET."""
    return f"{endpoint_path}?{urllib.parse.urlencode({'query': text})}"
