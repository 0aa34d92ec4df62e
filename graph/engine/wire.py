"""Messages between a server worker, the zygote and executors, over unix stream sockets.

A frame is two big-endian lengths, a small JSON header and raw body bytes. JSON rather than
pickle because the executor runs untrusted queries: nothing it sends may turn into code in
the worker that reads it. Every exchange is one frame each way (`recv_msg`), and a
descriptor travels alone (`send_fd`). A large answer goes through the executor's
`AnswerBuffer` instead of the socket: the frame only says how long it is.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import socket
import struct
import time
from typing import Any

_LENGTHS = struct.Struct("!II")
_TIMEVAL = struct.Struct("@ll")
_NO_TIMEOUT = _TIMEVAL.pack(0, 0)
_WHOLE_READ_MIN = 64 * 1024  # bodies from this size are read in one blocking call
_FIRST_READ = 64 * 1024  # a frame's first read: all of a small frame
MAX_HEADER = 1 << 20
MAX_BODY = (1 << 32) - 1
# A descriptor travels alone, attached to this one byte (SCM_RIGHTS).
FD_MARKER = b"F"
SHARED_MIN = 64 * 1024  # answers from this size go through the AnswerBuffer, if they fit
# The buffer's size can never change once shared: a reader of a shrunk file would get SIGBUS.
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL


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
        return
    # One call for both (no copy of a large body to prepend a few bytes, and one wake-up of
    # the reader rather than two); a socket with a timeout may take part of it.
    sent = sock.sendmsg([prefix, body])
    if sent < len(prefix):
        sock.sendall(prefix[sent:])
        sent = len(prefix)
    if sent - len(prefix) < len(body):
        sock.sendall(memoryview(body)[sent - len(prefix):])


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    if n == 0:
        return b""
    if deadline is not None and n >= _WHOLE_READ_MIN:
        return _recv_whole(sock, n, deadline)
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
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


def _recv_whole(sock: socket.socket, n: int, deadline: float) -> bytes:
    """A large body in one blocking read that the kernel bounds by the deadline.

    A Python-level timeout makes the socket non-blocking, and the body then comes in pieces
    of the sender's buffer size, each copied twice more; here one call takes it all. The
    kernel timeout is cleared afterwards: the socket may be inherited by a forked executor.
    """
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no complete answer before the deadline")
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(remaining))
    try:
        data = sock.recv(n, socket.MSG_WAITALL)
    except BlockingIOError:  # SO_RCVTIMEO ran out before anything came
        raise TimeoutError("no complete answer before the deadline") from None
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _NO_TIMEOUT)
    if len(data) == n:
        return data
    if not data:
        raise PeerClosed("connection closed by the other process")
    # Cut short (a signal, the deadline): the rest piece by piece, within what is left.
    return data + _recv_exact(sock, n - len(data), deadline)


def _timeval(seconds: float) -> bytes:
    """A `struct timeval` for SO_RCVTIMEO (never zero: zero would mean no limit)."""
    whole = int(seconds)
    return _TIMEVAL.pack(whole, max(0 if whole else 1, int((seconds - whole) * 1_000_000)))


def recv_msg(sock: socket.socket, *, deadline: float | None = None,
             max_body: int = MAX_BODY) -> tuple[dict[str, Any], bytes]:
    """Read one frame; `deadline` is a time.monotonic() value (None: wait forever).

    Raises TimeoutError past the deadline, PeerClosed on end of stream.
    """
    # One read takes a whole small frame (the peer sends nothing else before our answer:
    # the exchanges read with this are one frame each way), instead of three reads per frame.
    data = _recv_some(sock, _FIRST_READ, deadline)
    while len(data) < _LENGTHS.size:
        data += _recv_some(sock, _FIRST_READ, deadline)
    head_len, body_len = _lengths(data, max_body)
    end_head = _LENGTHS.size + head_len
    total = end_head + body_len
    if len(data) > total:
        raise ValueError("bytes after the end of a frame: the peer is not following the protocol")
    if len(data) < end_head:
        data += _recv_exact(sock, end_head - len(data), deadline)
    header = _header(data[_LENGTHS.size:end_head])
    body = data[end_head:] if len(data) == total else (
        data[end_head:] + _recv_exact(sock, total - len(data), deadline))
    return header, body


def _lengths(data: bytes, max_body: int) -> tuple[int, int]:
    """The header and body lengths at the start of a frame, refused if over the limits."""
    head_len, body_len = _LENGTHS.unpack_from(data)
    if head_len > MAX_HEADER or body_len > max_body:
        raise FrameTooLarge(f"frame of {head_len}+{body_len} bytes")
    return head_len, body_len


def _header(raw: bytes) -> dict[str, Any]:
    header = json.loads(raw)
    if not isinstance(header, dict):
        raise ValueError("frame header is not an object")
    return header


def _recv_some(sock: socket.socket, limit: int, deadline: float | None) -> bytes:
    """Up to `limit` bytes, at least one (PeerClosed at the end of the stream)."""
    if deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete answer before the deadline")
        sock.settimeout(remaining)
    data = sock.recv(limit)
    if not data:
        raise PeerClosed("connection closed by the other process")
    return data


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


class AnswerBuffer:
    """Shared memory that an executor writes its large answers into and its worker reads.

    Through the socket an 838 KB answer goes in pieces of the socket's buffer (about 200 KB),
    each copied into the kernel and out again with a wake-up of the other side; here the
    executor copies it once into pages both processes map, and the frame says how long it is
    (the benchmark's effect: bench/RESULTS.md notes). The executor creates the buffer before
    its sandbox closes, as a sealed memfd whose size cannot change, and passes the descriptor
    to its worker, which maps it read-only. Pages are only allocated as answers fill them, up
    to the largest answer of that executor.

    The worker copies an answer out before using it: an executor (which runs untrusted
    queries) could change the bytes meanwhile, which spoils only its own answer.
    """

    def __init__(self, fd: int | None, view: mmap.mmap) -> None:
        self.fd = fd  # the executor's descriptor, until it has passed it on
        self.view = view

    @property
    def size(self) -> int:
        return len(self.view)

    @classmethod
    def create(cls, size: int) -> AnswerBuffer | None:
        """The executor's buffer of `size` bytes; None where memfds or seals are missing."""
        if size <= 0:
            return None
        try:
            fd = os.memfd_create("rabat-kg-answers", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except (AttributeError, OSError):
            return None
        try:
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            return cls(fd, mmap.mmap(fd, size))
        except OSError:
            os.close(fd)
            return None

    @classmethod
    def attach(cls, fd: int) -> AnswerBuffer:
        """The worker's read-only view of an executor's buffer (takes over `fd`)."""
        try:
            if fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS != _SEALS:
                raise ValueError("the answer buffer is not sealed: its size could change")
            return cls(None, mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ))
        finally:
            os.close(fd)

    def take_fd(self) -> int | None:
        """The executor's descriptor, to pass on (and close) once: the mapping stays."""
        fd, self.fd = self.fd, None
        return fd

    def fits(self, size: int) -> bool:
        """Whether an answer of `size` bytes goes through the buffer."""
        return SHARED_MIN <= size <= self.size

    def write(self, data: bytes) -> None:
        self.view[: len(data)] = data

    def read(self, size: object) -> bytes:
        """A copy of the first `size` bytes (as the answer frame says)."""
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self.size:
            raise ValueError(f"answer of {size!r} bytes in a buffer of {self.size}")
        return self.view[:size]

    def close(self) -> None:
        self.view.close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
