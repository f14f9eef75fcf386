"""The precomputed AES_CM_128_HMAC_SHA1_80 RTP transform (fabric/media/srtp_aescm.py) against
libsrtp (pylibsrtp) with the same keys: each accepts what the other protects, across a
sequence-number wrap, with reordering inside the replay window; replays, too-old packets and
a flipped bit are rejected with libsrtp's status codes (counted as drop_replay / drop_auth);
RFC 3711 Appendix B.3's key derivation; the fall-back when libcrypto is missing."""

from __future__ import annotations

import logging
import struct
from types import ModuleType

import pylibsrtp
import pytest

from fabric.media import srtp_aescm
from fabric.media.fastpath import load_plane_module
from fabric.media.legs import srtp_session
from fabric.media.srtp_aescm import AesCmContext, srtp_context
from fabric.media.srtp_fast import (
    STATUS_AUTH_FAIL,
    STATUS_REPLAY_FAIL,
    STATUS_REPLAY_OLD,
    SrtpContext,
)
from fabric.media.suites import SrtpSuite, new_key_material

SUITE = SrtpSuite.AES_CM_128_HMAC_SHA1_80


@pytest.fixture(scope="module")
def module() -> ModuleType:
    mod = load_plane_module()
    if mod is None or not srtp_aescm.available(mod):
        pytest.fail("the compiled data plane with libcrypto must load on the test machine")
    return mod


def rtp(seq: int, ssrc: int = 0x1234, csrc: int = 0, ext: bool = False) -> bytes:
    first = 0x80 | csrc | (0x10 if ext else 0)
    head = struct.pack("!BBHII", first, 0, seq & 0xFFFF, seq * 160, ssrc)
    head += bytes(4 * csrc)
    if ext:
        head += struct.pack("!HH", 0xBEDE, 1) + b"\x10\xab\x00\x00"
    return head + bytes((seq + i) & 0xFF for i in range(160))


def test_rfc3711_b3_key_derivation(module: ModuleType) -> None:
    ffi, lib = module.ffi, module.lib
    key, auth, salt = (ffi.new(f"unsigned char[{n}]") for n in (16, 20, 14))
    assert lib.fs_derive(bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139"),
                         bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6"), key, auth, salt) == 0
    assert bytes(key).hex() == "c61e7a93744f39ee10734afe3ff7a087"
    assert bytes(auth).hex() == "cebe321f6ff7716b6fd4ab49af256a156d38baa4"
    assert bytes(salt).hex() == "30cbbc08863d8c85d49db34a9ae1"


def test_libsrtp_accepts_ours_across_a_wrap(module: ModuleType) -> None:
    key = new_key_material(SUITE)
    ours = AesCmContext(module, SUITE, *key, inbound=False)
    theirs = srtp_session(SUITE, *key, inbound=True)
    seqs = list(range(65500, 65536 + 40))  # the rollover counter goes 0 -> 1
    seqs[10], seqs[11] = seqs[11], seqs[10]  # reordered inside the window
    for seq in seqs:
        packet = rtp(seq)
        protected = ours.protect(packet)
        assert protected is not None and len(protected) == len(packet) + 10
        assert bytes(theirs.unprotect(protected)) == packet


def test_ours_accepts_libsrtp_across_a_wrap_with_csrc_and_extension(module: ModuleType) -> None:
    key = new_key_material(SUITE)
    theirs = srtp_session(SUITE, *key, inbound=False)
    ours = AesCmContext(module, SUITE, *key, inbound=True)
    for i, seq in enumerate(range(65530, 65536 + 20)):
        packet = rtp(seq, csrc=i % 3, ext=i % 2 == 1)
        assert ours.unprotect(bytes(theirs.protect(packet))) == packet
    empty = struct.pack("!BBHII", 0x80, 0, 30, 0, 0x1234)  # no payload: a keep-alive
    assert ours.unprotect(bytes(theirs.protect(empty))) == empty
    # a second SSRC on the same leg starts its own rollover counter, as libsrtp's streams do
    assert ours.unprotect(bytes(theirs.protect(rtp(7, ssrc=99)))) == rtp(7, ssrc=99)


def test_reorder_replay_too_old_and_a_flipped_bit(module: ModuleType) -> None:
    key = new_key_material(SUITE)
    sender = srtp_session(SUITE, *key, inbound=False)
    packets = {seq: bytes(sender.protect(rtp(seq))) for seq in range(1000, 1200)}
    ours = AesCmContext(module, SUITE, *key, inbound=True)
    theirs = SrtpContext(srtp_session(SUITE, *key, inbound=True))
    for ctx in (ours, theirs):  # the same verdicts, the same status codes
        verdicts = []
        for seq in [1000, 1002, 1001, 1002, *range(1003, 1200), 1050, 1150]:
            out = ctx.unprotect(packets[seq])
            verdicts.append(ctx.status if out is None else 0)
        assert verdicts[:4] == [0, 0, 0, STATUS_REPLAY_FAIL]
        assert verdicts[-2:] == [STATUS_REPLAY_OLD, STATUS_REPLAY_FAIL]
        flipped = bytearray(bytes(sender.protect(rtp(1200))))
        flipped[20] ^= 0x01
        assert ctx.unprotect(bytes(flipped)) is None and ctx.status == STATUS_AUTH_FAIL
        assert ctx.unprotect(packets[1199][:-1] + bytes([packets[1199][-1] ^ 1])) is None


def test_protect_after_libsrtp_state_matches_libsrtp_bytes(module: ModuleType) -> None:
    """Byte-identical output: the same keys and index give libsrtp's exact SRTP packet."""
    key = new_key_material(SUITE)
    ours = AesCmContext(module, SUITE, *key, inbound=False)
    theirs = srtp_session(SUITE, *key, inbound=False)
    for seq in (0, 1, 65535, 0, 1, 2):
        assert ours.protect(rtp(seq)) == bytes(theirs.protect(rtp(seq)))
    empty = struct.pack("!BBHII", 0x80, 0, 3, 0, 0x1234)
    assert ours.protect(empty) == bytes(theirs.protect(empty))


def test_other_suites_and_a_missing_libcrypto_keep_libsrtp(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gcm = SrtpSuite.AEAD_AES_256_GCM
    assert type(srtp_context(module, gcm, *new_key_material(gcm), inbound=True)) is SrtpContext
    assert type(srtp_context(None, SUITE, *new_key_material(SUITE), inbound=True)) is SrtpContext
    monkeypatch.setattr(srtp_aescm, "_ready", {})
    monkeypatch.setenv("FABRIC_MEDIA_LIBCRYPTO", "libcrypto-missing.so.9")
    with caplog.at_level(logging.INFO, logger="fabric.media.srtp_aescm"):
        ctx = srtp_context(module, SUITE, *new_key_material(SUITE), inbound=True)
    assert type(ctx) is SrtpContext
    assert srtp_aescm.transform_name(module) == "libsrtp"
    assert [r.getMessage() for r in caplog.records] == [
        "media: libcrypto-missing.so.9 could not be loaded; SRTP stays on libsrtp"
    ]
    monkeypatch.setattr(srtp_aescm, "_ready", {})
    monkeypatch.delenv("FABRIC_MEDIA_LIBCRYPTO")
    monkeypatch.setenv("FABRIC_MEDIA_SRTP_TRANSFORM", "libsrtp")
    assert type(srtp_context(module, SUITE, *new_key_material(SUITE), inbound=True)) is SrtpContext
    monkeypatch.delenv("FABRIC_MEDIA_SRTP_TRANSFORM")
    assert isinstance(srtp_context(module, SUITE, *new_key_material(SUITE), True), AesCmContext)


def test_pylibsrtp_rejects_what_a_wrong_key_protected(module: ModuleType) -> None:
    ours = AesCmContext(module, SUITE, *new_key_material(SUITE), inbound=False)
    theirs = srtp_session(SUITE, *new_key_material(SUITE), inbound=True)
    protected = ours.protect(rtp(5))
    assert protected is not None
    with pytest.raises(pylibsrtp.Error):
        theirs.unprotect(protected)
