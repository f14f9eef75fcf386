"""The compiled loop's sockets are edge-triggered: a socket holding more than the loop reads
in one go (4 batches of 64) must still be read to the end without any new datagram arriving
(the loop keeps it in its pending list)."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from fabric.media.fastleg import srtp_address
from fabric.media.fastpath import FastPlane, load_plane_module
from fabric.media.legs import srtp_session
from fabric.media.srtp_aescm import AesCmContext
from fabric.media.suites import SrtpSuite, new_key_material

SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80


def test_a_backlog_larger_than_one_round_is_read_to_the_end() -> None:
    module = load_plane_module()
    if module is None:
        pytest.fail("the compiled data plane must load on the test machine")
    key = new_key_material(SUITE)
    sender = srtp_session(SUITE, *key, inbound=False)
    rx = AesCmContext(module, SUITE, *key, inbound=True)
    tx = AesCmContext(module, SUITE, *new_key_material(SUITE), inbound=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    count = 700  # more than 4 x 64, queued before the loop sees the socket
    for seq in range(count):
        packet = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 42) + bytes(160)
        client.sendto(bytes(sender.protect(packet)), sock.getsockname())
    plane = FastPlane(module, capacity=4)
    try:
        handle = plane.add(sock.fileno(), srtp_address(rx.session), srtp_address(tx.session),
                           0, 0, rx.address(), tx.address())
        slot = plane.leg(handle)
        deadline = time.monotonic() + 10.0
        while slot.packets_in < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slot.packets_in == count
        assert slot.drop_no_peer == count and slot.drop_auth == 0 and slot.drop_replay == 0
        plane.detach([handle])
    finally:
        plane.close()
        sock.close()
        client.close()
