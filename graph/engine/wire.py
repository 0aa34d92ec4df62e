"""Frames between the server and an executor process: a JSON header and a body, over pipes.

A frame is two big-endian 32-bit lengths (header, body), the JSON header, then the body.
Reads take a deadline, so a stuck executor never holds a server thread past the time limit.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

_LENGTHS = struct.Struct("!II")
MAX_HEADER = 1 << 20


class PeerClosed(ConnectionError):
    """The other end closed the pipe (an executor that exited or was killed)."""


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    """One frame's bytes."""
    head = json.dumps(header).encode()
    return _LENGTHS.pack(len(head), len(body)) + head + body


def write_frame(fd: int, header: dict[str, Any], body: bytes = b"") -> None:
    """Write one frame completely (blocking)."""
    view = memoryview(encode(header, body))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def ready(fd: int, timeout_s: float) -> bool:
    """Whether `fd` has something to read (or was closed) within `timeout_s`."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(max(0, int(timeout_s * 1000))))


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    parts: list[bytes] = []
    left = size
    while left:
        if deadline is not None and not ready(fd, deadline - time.monotonic()):
            raise TimeoutError("no answer before the deadline")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise PeerClosed("the other end closed the pipe")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def read_frame(fd: int, deadline: float | None = None) -> tuple[dict[str, Any], bytes]:
    """Read one frame; TimeoutError past `deadline` (monotonic), PeerClosed on end of file."""
    head_len, body_len = _LENGTHS.unpack(_read_exactly(fd, _LENGTHS.size, deadline))
    if head_len > MAX_HEADER:
        raise ValueError(f"frame header of {head_len} bytes")
    header = json.loads(_read_exactly(fd, head_len, deadline))
    return header, _read_exactly(fd, body_len, deadline)
