"""A test softphone for the relay's media features: sends µ-law or A-law, RFC 4733 keys,
and keeps what it receives per SSRC (a relay prompt and the other party are two streams)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pylibsrtp

from fabric.client.phone_media import SoftphoneMedia
from fabric.config import StorageSettings, VaultSettings
from fabric.media import g711
from fabric.media.dtmf import build_event
from fabric.media.engine import RelayEngine
from fabric.media.rtp import RtpHeader, build_rtp, is_rtcp, looks_like_rtp_or_rtcp, parse_rtp
from fabric.media.sealsink import LazyContentStore
from fabric.media.suites import SrtpSuite
from fabric.testing import eventually

FRAME = 160


class FeaturePhone(SoftphoneMedia):
    """Sends audio of payload type ``pt`` (0 µ-law, 8 A-law) and keys; receives per SSRC."""

    def __init__(self, pt: int = 0) -> None:
        super().__init__(SrtpSuite.AES_CM_128_HMAC_SHA1_80)
        self.pt = pt
        self.streams: dict[int, list[tuple[int, bytes]]] = {}  # ssrc -> (ts, payload)

    def protect_frame(self, payload: bytes, marker: bool = False) -> bytes:
        header = RtpHeader(self.pt, self._seq, self._ts, self.ssrc, marker)
        self._seq = (self._seq + 1) & 0xFFFF
        self._ts = (self._ts + len(payload)) & 0xFFFFFFFF
        return bytes(self._tx.protect(build_rtp(header, payload)))

    async def send_audio(self, audio: bytes) -> int:
        """Send G.711 bytes (of this phone's payload type) paced at 20 ms."""
        return await self.send_ulaw(audio)  # the pacing loop; protect_frame sets the type

    def send_key(self, digit: str, duration: int = 800) -> None:
        """One key press: 3 progress packets and 3 redundant end packets, one timestamp."""
        ts = self._ts
        for n in range(6):
            end = n >= 3
            payload = build_event(digit, end, duration if end else 160 * (n + 1))
            header = RtpHeader(101, self._seq, ts, self.ssrc, marker=n == 0)
            self._seq = (self._seq + 1) & 0xFFFF
            self.send_raw(bytes(self._tx.protect(build_rtp(header, payload))))
        self._ts = (self._ts + duration) & 0xFFFFFFFF

    def _on_datagram(self, data: bytes, addr: Any) -> None:
        if self._rx is None or addr[:2] != self.remote or not looks_like_rtp_or_rtcp(data):
            self.rejected += 1
            return
        try:
            if is_rtcp(data):
                self._rx.unprotect_rtcp(data)
                return
            header, payload = parse_rtp(bytes(self._rx.unprotect(data)))
        except (pylibsrtp.Error, ValueError):
            self.rejected += 1
            return
        self.streams.setdefault(header.ssrc, []).append((header.timestamp, payload))
        self.packets_received += 1
        self._arrived.set()

    def stream_audio(self, index: int) -> bytes:
        """The ``index``-th SSRC's audio frames (in arrival order, key events left out)."""
        stream = list(self.streams.values())[index]
        return b"".join(p for _, p in stream if len(p) == FRAME)


async def feature_phone(
    engine: RelayEngine, call_id: str, leg_id: str, pt: int = 0
) -> FeaturePhone:
    """A phone with a latched leg ``leg_id`` in ``call_id`` (session allocated if needed)."""
    engine.allocate_session(call_id)
    phone = FeaturePhone(pt)
    await phone.start(await engine.add_leg(call_id, leg_id, phone.offer()))
    phone.latch()
    await eventually(lambda: engine.sessions[call_id].legs[leg_id].latched,
                     what=f"leg {leg_id} latched")
    return phone


def content_settings(tmp: Path) -> LazyContentStore:
    """A lazily opened embedded (SQLite + files) content store under ``tmp``."""
    return LazyContentStore(
        StorageSettings(backend="embedded", data_dir=tmp / "data"),
        VaultSettings(root_key_file=tmp / "keys" / "root.key"),
    )


def pcm_of(audio: bytes, pt: int) -> bytes:
    """What the relay should record for G.711 ``audio`` of payload type ``pt``."""
    return g711.alaw_bytes_to_pcm16(audio) if pt == 8 else g711.ulaw_bytes_to_pcm16(audio)
