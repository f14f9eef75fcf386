"""``VoicemailClient``: the Voicemail service for one :class:`FabricClient`'s credential.

    vm = VoicemailClient(client)
    first = (await vm.messages("102"))[0]             # unheard first
    msg = await vm.get("102", first.message_id)       # with its transcript
    await vm.save_audio("102", msg.message_id, Path("message.wav"))
    await vm.upload_greeting("102", Path("greeting.wav"))     # any WAV: converted first

Errors are the server's :mod:`fabric.errors` classes with their error ids (e.g.
``mailbox-not-found``, ``mailbox-not-yours``, ``message-not-found``, ``invalid-greeting``).
New messages arrive on a registered :class:`~fabric.client.Softphone` of the mailbox's
extension as ``CALL_EVENT_MESSAGE_WAITING`` events (``event.message_waiting``).
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc

from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.api.v1 import voicemail_pb2_grpc
from fabric.client.client import FabricClient
from fabric.edge.status import error_from_rpc
from fabric.media.g711 import read_wav_as_ulaw, ulaw_to_pcm16

Progress = Callable[[int, int], None]
"""Called as audio streams: (bytes so far, total bytes)."""


def greeting_wav(path: Path) -> bytes:
    """Any WAV file (any rate, channels or sample format) as the API's greeting format:
    8 kHz mono 16-bit PCM (through G.711, as callers will hear it). ``ValueError`` names
    an unreadable file."""
    pcm = ulaw_to_pcm16(read_wav_as_ulaw(path))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm)
    return buf.getvalue()


class VoicemailClient:
    """Typed methods over the Voicemail service."""

    def __init__(self, client: FabricClient, audio_timeout_s: float = 300.0) -> None:
        self.client = client
        self.stub = voicemail_pb2_grpc.VoicemailStub(client.channel)
        self.audio_timeout_s = audio_timeout_s

    async def page(
        self, mailbox: str, page_size: int = 0, page_token: str = "", unheard_only: bool = False
    ) -> api_vm.ListVoicemailResponse:
        """One page of a mailbox's messages, unheard first (newest first in each group)."""
        request = api_vm.ListVoicemailRequest(
            mailbox=mailbox, page_size=page_size, page_token=page_token, unheard_only=unheard_only
        )
        return await self.client.call(self.stub.ListMessages, request)

    async def messages(
        self, mailbox: str, unheard_only: bool = False
    ) -> list[api_vm.VoicemailMessage]:
        """Every message of a mailbox (every page), unheard first."""
        out: list[api_vm.VoicemailMessage] = []
        token = ""
        while True:
            page = await self.page(mailbox, 100, token, unheard_only)
            out.extend(page.messages)
            token = page.next_page_token
            if not token:
                return out

    async def get(self, mailbox: str, message_id: str) -> api_vm.VoicemailMessage:
        """One message, with its transcript when it is done."""
        ref = api_vm.VoicemailMessageRef(mailbox=mailbox, message_id=message_id)
        return await self.client.call(self.stub.GetMessage, ref)

    async def audio(
        self, mailbox: str, message_id: str
    ) -> AsyncIterator[api_vm.VoicemailAudioChunk]:
        """The message's WAV file in chunks (reading it to its end marks it heard)."""
        ref = api_vm.VoicemailMessageRef(mailbox=mailbox, message_id=message_id)
        stream = self.stub.StreamAudio(
            ref, metadata=self.client.metadata, timeout=self.audio_timeout_s
        )
        try:
            async for chunk in stream:
                yield chunk
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc.code(), exc.details(), exc.trailing_metadata()) from None

    async def audio_bytes(self, mailbox: str, message_id: str) -> bytes:
        """The whole WAV file in memory."""
        return b"".join([c.data async for c in self.audio(mailbox, message_id)])

    async def save_audio(
        self, mailbox: str, message_id: str, path: Path, progress: Progress | None = None
    ) -> int:
        """Write the message's WAV file to ``path`` (mode 0600: it is someone's voice);
        return its size. ``progress(done, total)`` is called after each chunk."""
        done = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            async for chunk in self.audio(mailbox, message_id):
                f.write(chunk.data)
                done += len(chunk.data)
                if progress is not None:
                    progress(done, chunk.total_bytes)
        return done

    async def mark_heard(
        self, mailbox: str, message_id: str, heard: bool = True
    ) -> api_vm.VoicemailMessage:
        """Mark a message heard (or unheard again)."""
        request = api_vm.MarkHeardRequest(mailbox=mailbox, message_id=message_id,
                                          unheard=not heard)
        return await self.client.call(self.stub.MarkHeard, request)

    async def delete(self, mailbox: str, message_id: str) -> api_vm.DeleteVoicemailResponse:
        """Delete a message: its audio and transcript are unreadable at once."""
        ref = api_vm.VoicemailMessageRef(mailbox=mailbox, message_id=message_id)
        return await self.client.call(self.stub.DeleteMessage, ref)

    async def upload_greeting(self, mailbox: str, wav: Path | bytes) -> api_vm.MailboxGreeting:
        """Replace the mailbox's greeting: a WAV file (converted to 8 kHz mono 16-bit PCM
        first) or WAV bytes already in that format."""
        data = greeting_wav(wav) if isinstance(wav, Path) else wav
        request = api_vm.UploadGreetingRequest(mailbox=mailbox, wav=data)
        return await self.client.call(self.stub.UploadGreeting, request)

    async def reset_greeting(self, mailbox: str) -> api_vm.MailboxGreeting:
        """Back to the default greeting."""
        return await self.client.call(self.stub.ResetGreeting, api_vm.MailboxRef(mailbox=mailbox))

    async def settings(self, mailbox: str) -> api_vm.MailboxSettings:
        """The mailbox's settings, usage and greeting."""
        return await self.client.call(
            self.stub.GetMailboxSettings, api_vm.MailboxRef(mailbox=mailbox)
        )

    async def prompt_frames(self, mailbox: str) -> int:
        """How many 20 ms frames of greeting and beep a caller hears before the mailbox
        records (speak after that many: :meth:`fabric.client.CallAudio.wait_received`)."""
        greeting = (await self.settings(mailbox)).greeting
        return -(-(greeting.duration_ms + greeting.beep_ms) // 20)

    async def set_settings(
        self, mailbox: str, max_message_s: int = 0, quota_bytes: int = 0
    ) -> api_vm.MailboxSettings:
        """Change the maximum message length and (owners, admins) the quota; 0 = unchanged."""
        request = api_vm.SetMailboxSettingsRequest(
            mailbox=mailbox, max_message_s=max_message_s, quota_bytes=quota_bytes
        )
        return await self.client.call(self.stub.SetMailboxSettings, request)
