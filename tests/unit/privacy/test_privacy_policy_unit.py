"""Offline checks of the privacy building blocks: retention rules, subjects, the zip stream."""

from __future__ import annotations

import io
import zipfile

import pytest

from actors.privacy import policy
from actors.privacy.export import audio_header, wav_header
from actors.privacy.subjects import Subject, check
from actors.privacy.zipstream import ZipStream
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.errors import FailedPrecondition, InvalidArgument
from fabric.vault.content import ContentInfo


def test_a_tenant_shortens_and_unsets_but_never_lengthens() -> None:
    own = policy.changed(api_privacy.RetentionPolicy(),
                         api_privacy.RetentionPolicy(voicemail_days=30,
                                                     account_after_closure_days=10))
    shown = policy.effective(own)
    assert shown.voicemail_days == 30 and shown.account_after_closure_days == 10
    assert shown.cdr_days == 2557 and shown.backup_days == 30
    assert not shown.HasField("recording_days")  # until deleted
    back = policy.changed(own, api_privacy.RetentionPolicy(voicemail_days=0))
    assert not back.HasField("voicemail_days")
    with pytest.raises(InvalidArgument):
        policy.changed(own, api_privacy.RetentionPolicy(account_after_closure_days=91))
    with pytest.raises(FailedPrecondition):
        policy.changed(own, api_privacy.RetentionPolicy(cdr_days=2556))
    assert policy.account_purge_at_ms(1000, own) == 1000 + 10 * policy.DAY_MS
    assert policy.deadline_ms(0) == 30 * policy.DAY_MS


def test_subjects_are_user_ids_or_numbers_and_match_their_metadata() -> None:
    assert check("+15550100123") and check("u-1a2b")
    for bad in ("", "15550100123x!", "+0123", "Alice Able"):
        with pytest.raises(InvalidArgument):
            check(bad)
    alice = Subject("u-a", api_tenant.User(user_id="u-a"), ("101",))
    assert alice.owns({"subjects": "u-a,+15550100123"})
    assert not alice.owns({"subjects": "u-b"})
    assert alice.owns({"extension": "101"})          # no subjects key: any value names her
    assert not alice.owns({"parent": "u-a"})          # but not a parent's object id
    number = Subject("+15550100123", None, ())
    assert number.cdr_numbers == ("+15550100123",) and alice.cdr_numbers == ("101",)


def test_the_zip_stream_is_deterministic_and_readable() -> None:
    def build() -> bytes:
        z = ZipStream(1_780_000_000.0)
        out = bytearray()
        z.begin("a.wav", 3)
        z.write(b"abc")
        assert z.end()[1] == 3
        out += z.take()
        z.begin("b.csv")
        z.write(b"x,y\n" * 10)
        z.end()
        z.finish()
        out += z.take()
        return bytes(out)

    first, second = build(), build()
    assert first == second
    zf = zipfile.ZipFile(io.BytesIO(first))
    assert zf.read("a.wav") == b"abc" and zf.testzip() is None


def test_raw_audio_gets_a_wav_header_and_a_wav_none() -> None:
    info = ContentInfo("t", "voicemail", "vm", 1600, 0.0, {})
    header = audio_header(info, b"\x00\x01")
    assert header == wav_header(1600, 8000, 1) and len(header) == 44
    assert audio_header(info, b"RIFF....") == b""
    ulaw = ContentInfo("t", "voicemail", "vm", 800, 0.0, {"audio_format": "mulaw"})
    assert audio_header(ulaw, b"\xff")[20:22] == b"\x07\x00"
