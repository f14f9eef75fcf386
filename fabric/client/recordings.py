"""``RecordingsClient``: the Recordings service (call recording) for one
:class:`~fabric.client.FabricClient`'s credential.

    rec = RecordingsClient(client)
    await rec.start(call_id)                  # the extension's policy must allow it
    await rec.stop(call_id)
    page = await rec.list(extension="101")    # newest first
    await rec.save_wav(page.recordings[0].recording_id, Path("call.wav"))

Errors are the server's :mod:`fabric.errors` classes with their error ids (e.g.
``recording-not-allowed``, ``recording-not-yours``, ``recording-objected``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from fabric.api.v1 import recordings_pb2 as api_rec
from fabric.api.v1 import recordings_pb2_grpc
from fabric.client.client import FabricClient
from fabric.edge.status import error_from_rpc

__all__ = ["RecordingsClient"]


class RecordingsClient:
    """Typed methods over the Recordings service."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client
        self.stub = recordings_pb2_grpc.RecordingsStub(client.channel)

    async def start(self, call_id: str) -> api_rec.Recording:
        """Start recording a call you are a party of (or any, as an admin)."""
        return await self.client.call(
            self.stub.StartRecording, api_rec.StartRecordingRequest(call_id=call_id)
        )

    async def stop(self, call_id: str) -> api_rec.Recording:
        """Stop the call's recording (it is sealed)."""
        return await self.client.call(
            self.stub.StopRecording, api_rec.StopRecordingRequest(call_id=call_id)
        )

    async def list(
        self,
        *,
        start_ms: int = 0,
        end_ms: int = 0,
        extension: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> api_rec.ListRecordingsResponse:
        """A page of recordings, newest first (default: the last 30 days)."""
        return await self.client.call(
            self.stub.ListRecordings,
            api_rec.ListRecordingsRequest(
                start_ms=start_ms, end_ms=end_ms, extension=extension,
                page_size=page_size, page_token=page_token,
            ),
        )

    async def get(self, recording_id: str) -> api_rec.Recording:
        """One recording's metadata."""
        return await self.client.call(
            self.stub.GetRecording, api_rec.RecordingRef(recording_id=recording_id)
        )

    async def audio(self, recording_id: str) -> AsyncIterator[bytes]:
        """The recording as a WAV file, chunk by chunk."""
        stream = self.stub.StreamAudio(
            api_rec.RecordingRef(recording_id=recording_id),
            metadata=self.client.metadata,
            timeout=max(self.client.timeout_s, 600.0),
        )
        try:
            async for chunk in stream:
                yield chunk.data
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc.code(), exc.details(), exc.trailing_metadata()) from None

    async def save_wav(self, recording_id: str, path: Path) -> int:
        """Write the recording to ``path`` (mode 0600: it is personal data); its size."""
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            async for data in self.audio(recording_id):
                out.write(data)
                size += len(data)
        return size

    async def delete(self, recording_id: str) -> api_rec.DeleteRecordingResponse:
        """Delete a recording (owners and admins): unreadable at once."""
        return await self.client.call(
            self.stub.DeleteRecording, api_rec.RecordingRef(recording_id=recording_id)
        )

    async def settings(self) -> api_rec.RecordingSettings:
        """The tenant's recording settings."""
        return await self.client.call(
            self.stub.GetRecordingSettings, api_rec.GetRecordingSettingsRequest()
        )

    async def set_settings(self, settings: api_rec.RecordingSettings) -> api_rec.RecordingSettings:
        """Replace the tenant's recording settings."""
        return await self.client.call(
            self.stub.SetRecordingSettings, api_rec.SetRecordingSettingsRequest(settings=settings)
        )
