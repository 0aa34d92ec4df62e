"""Frames between workers and executors: whole, in pieces, cut short, late."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from graph.engine.wire import AnswerBuffer, PeerClosed, recv_msg, send_msg


def frame_bytes(header: dict[str, object], body: bytes) -> bytes:
    """The bytes `send_msg` writes for this frame (read by a thread: a big body fills the pipe)."""
    a, b = socket.socketpair()
    chunks: list[bytes] = []

    def drain() -> None:
        while chunk := b.recv(1 << 20):
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    with a, b:
        reader.start()
        send_msg(a, header, body)
        a.shutdown(socket.SHUT_WR)
        reader.join()
    return b"".join(chunks)


def send_slowly(sock: socket.socket, data: bytes, piece: int, pause: float) -> None:
    for at in range(0, len(data), piece):
        sock.sendall(data[at:at + piece])
        time.sleep(pause)


@pytest.mark.parametrize("size", [0, 10, 70_000, 3_000_000])
def test_a_frame_arriving_in_pieces_is_read_whole(size: int) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    data = frame_bytes({"ok": True, "n": size}, body)
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=send_slowly, args=(a, data, max(1, len(data) // 7), 0.01))
        sender.start()
        header, got = recv_msg(b, deadline=time.monotonic() + 10)
        sender.join()
    assert header == {"ok": True, "n": size}
    assert got == body


def test_a_frame_cut_short_is_peer_closed() -> None:
    data = frame_bytes({"ok": True}, b"y" * 50_000)
    a, b = socket.socketpair()
    with b:
        a.sendall(data[:30_000])
        a.close()
        with pytest.raises(PeerClosed):
            recv_msg(b, deadline=time.monotonic() + 5)


def test_a_frame_that_stalls_times_out_at_the_deadline() -> None:
    data = frame_bytes({"ok": True}, b"z" * 50_000)
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data[:20_000])
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            recv_msg(b, deadline=started + 0.3)
        assert 0.25 < time.monotonic() - started < 2


def test_a_deadline_leaves_no_timeout_on_the_socket() -> None:
    """The socket may be handed to a forked executor: a read with a deadline must not leave
    a kernel receive timeout behind that would end that executor's wait for its next query."""
    data = frame_bytes({"ok": True}, b"w" * 200_000)
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=send_slowly, args=(a, data, 50_000, 0.01))
        sender.start()
        recv_msg(b, deadline=time.monotonic() + 0.5)
        sender.join()
        assert b.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16) == bytes(16)
        b.settimeout(None)
        late = threading.Timer(0.8, send_msg, args=(a, {"late": True}, b"x" * 100_000))
        late.start()
        header, _ = recv_msg(b)  # waits past the first deadline
        late.join()
    assert header == {"late": True}


def test_two_frames_at_once_break_the_protocol() -> None:
    """Every exchange is one frame each way: bytes past a frame are refused, not misread."""
    data = frame_bytes({"n": 1}, b"a") + frame_bytes({"n": 2}, b"b")
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data)
        time.sleep(0.05)
        with pytest.raises(ValueError, match="after the end of a frame"):
            recv_msg(b, deadline=time.monotonic() + 2)




def test_an_answer_buffer_is_shared_sealed_and_bounded() -> None:
    """What the executor writes, its worker reads; the size can never change; a frame
    claiming more than the buffer holds is refused."""
    mine = AnswerBuffer.create(1024 * 1024)
    assert mine is not None and mine.fd is not None
    theirs = AnswerBuffer.attach(os.dup(mine.fd))
    try:
        data = bytes(range(256)) * 1000
        assert mine.fits(len(data)) and not mine.fits(10) and not mine.fits(mine.size + 1)
        mine.write(data)
        assert theirs.read(len(data)) == data
        for bad in (-1, theirs.size + 1, "12", True, None):
            with pytest.raises(ValueError):
                theirs.read(bad)
        with pytest.raises(PermissionError):  # sealed: an executor cannot shrink it
            os.ftruncate(mine.fd, 10)
    finally:
        mine.close()
        theirs.close()


def test_an_unsealed_buffer_is_refused() -> None:
    fd = os.memfd_create("unsealed")
    os.ftruncate(fd, 4096)
    with pytest.raises(ValueError, match="not sealed"):
        AnswerBuffer.attach(fd)
