"""Messages between a server worker, the zygote and executors, over unix stream sockets.

A frame is two big-endian lengths, a small JSON header and raw body bytes. JSON rather than
pickle because the executor runs untrusted queries: nothing it sends may turn into code in
the worker that reads it.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

_LENGTHS = struct.Struct("!II")
MAX_HEADER = 1 << 20
MAX_BODY = (1 << 32) - 1
# A process descriptor travels alone, attached to this one byte (SCM_RIGHTS).
FD_MARKER = b"F"


class PeerClosed(ConnectionError):
    """The other end closed the connection (or died) before a whole frame arrived."""


class FrameTooLarge(ValueError):
    """A frame announced more bytes than the reader accepts."""


def send_msg(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    """Write one frame."""
    head = json.dumps(header, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER:
        raise FrameTooLarge(f"header of {len(head)} bytes")
    if len(body) > MAX_BODY:
        raise FrameTooLarge(f"body of {len(body)} bytes")
    prefix = _LENGTHS.pack(len(head), len(body)) + head
    if len(body) < 64 * 1024:
        sock.sendall(prefix + body)
    else:  # avoid copying a large body just to prepend a few bytes
        sock.sendall(prefix)
        sock.sendall(body)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    if n == 0:
        return b""
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer before the deadline")
        sock.settimeout(remaining)
    # Usually the whole frame is there (or comes in one go): one call, no copy of the body.
    first = sock.recv(n, socket.MSG_WAITALL)
    if len(first) == n:
        return first
    if not first:
        raise PeerClosed("connection closed by the other process")
    buf = bytearray(n)
    buf[: len(first)] = first
    view = memoryview(buf)
    got = len(first)
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete answer before the deadline")
            sock.settimeout(remaining)
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise PeerClosed("connection closed by the other process")
        got += k
    return bytes(buf)


def recv_msg(sock: socket.socket, *, deadline: float | None = None,
             max_body: int = MAX_BODY) -> tuple[dict[str, Any], bytes]:
    """Read one frame; `deadline` is a time.monotonic() value (None: wait forever).

    Raises TimeoutError past the deadline, PeerClosed on end of stream.
    """
    head_len, body_len = _LENGTHS.unpack(_recv_exact(sock, _LENGTHS.size, deadline))
    if head_len > MAX_HEADER or body_len > max_body:
        raise FrameTooLarge(f"frame of {head_len}+{body_len} bytes")
    header = json.loads(_recv_exact(sock, head_len, deadline))
    body = _recv_exact(sock, body_len, deadline)
    if not isinstance(header, dict):
        raise ValueError("frame header is not an object")
    return header, body


def send_fd(sock: socket.socket, fd: int) -> None:
    """Pass a descriptor (here: a pidfd) to the peer."""
    socket.send_fds(sock, [FD_MARKER], [fd])


def recv_fd(sock: socket.socket, *, deadline: float | None = None) -> int | None:
    """Receive the descriptor sent by `send_fd`; None if the marker came without one."""
    if deadline is not None:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
    data, fds, _flags, _addr = socket.recv_fds(sock, 1, 1)
    if not data:
        raise PeerClosed("connection closed before the process descriptor arrived")
    if data != FD_MARKER:
        raise ValueError("unexpected byte instead of a process descriptor")
    return fds[0] if fds else None
