"""``PrivacyClient``: the Privacy service (data-subject rights, retention) for one credential.

    privacy = PrivacyClient(client)
    summary = await privacy.export_to_file(Path("acme.zip"), on_progress=print)
    answer = await privacy.erase(subject="+15550100777")   # says what was kept and why

``export_to_file`` writes ``<file>.part`` and resumes it after an interruption (the request
id is kept beside it in ``<file>.part.json``), checks the whole file's SHA-256 against the
server's, then renames it. Errors are :mod:`fabric.errors` classes with their error ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import grpc

from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import privacy_pb2_grpc
from fabric.client.client import FabricClient
from fabric.edge.status import error_from_rpc
from fabric.errors import FailedPrecondition

Progress = Callable[[api_privacy.ExportProgress], None]


class PrivacyClient:
    """Typed methods over the Privacy service."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client
        self.stub = privacy_pb2_grpc.PrivacyStub(client.channel)

    async def export_to_file(
        self, path: Path, subject: str = "", *, tenant_id: str = "",
        on_progress: Progress | None = None,
    ) -> api_privacy.ExportSummary:
        """Export into ``path`` (resuming ``path.part`` if one is there); the summary."""
        part = path.with_name(path.name + ".part")
        note = path.with_name(path.name + ".part.json")
        request_id, offset = "", 0
        if part.exists() and note.exists():
            request_id = json.loads(note.read_text()).get("request_id", "")
            offset = part.stat().st_size if request_id else 0
        req = api_privacy.ExportRequest(
            subject=subject, request_id=request_id, offset=offset, tenant_id=tenant_id
        )
        summary = api_privacy.ExportSummary()
        mode = "ab" if offset else "wb"
        try:
            with part.open(mode) as out:
                call = self.stub.Export(req, metadata=self.client.metadata)
                async for event in call:
                    which = event.WhichOneof("event")
                    if which == "progress":
                        if not note.exists() and event.progress.request_id:
                            note.write_text(json.dumps({"request_id": event.progress.request_id}))
                        if on_progress is not None:
                            on_progress(event.progress)
                    elif which == "data":
                        out.write(event.data.chunk)
                    elif which == "done":
                        summary = event.done.summary
        except grpc.aio.AioRpcError as exc:
            if not part.stat().st_size:  # refused before any byte: leave nothing behind
                part.unlink()
                note.unlink(missing_ok=True)
            raise error_from_rpc(exc.code(), exc.details(), exc.trailing_metadata()) from None
        digest = hashlib.sha256()
        with part.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != summary.zip_sha256:
            part.unlink()
            note.unlink(missing_ok=True)
            raise FailedPrecondition(
                "the resumed export does not match (data changed since it began); run the "
                "export again", error_id="export-changed",
            )
        part.replace(path)
        note.unlink(missing_ok=True)
        return summary

    async def erase(
        self, subject: str = "", data_class: str = "", object_id: str = "", request_id: str = ""
    ) -> api_privacy.EraseResponse:
        """Erase a subject's data, or one object (``data_class`` and ``object_id``)."""
        req = api_privacy.EraseRequest(request_id=request_id)
        if subject:
            req.subject = subject
        else:
            req.object.CopyFrom(api_privacy.ObjectRef(data_class=data_class, object_id=object_id))
        return await self.client.call(self.stub.Erase, req)

    async def correct(self, req: api_privacy.CorrectRequest) -> api_privacy.CorrectResponse:
        """Correct a user's fields or an extension's label."""
        return await self.client.call(self.stub.Correct, req)

    async def restrict(self, subject: str, restricted: bool = True,
                       request_id: str = "") -> api_privacy.SetRestrictionResponse:
        """Restrict a subject (or lift it)."""
        return await self.client.call(self.stub.SetRestriction, api_privacy.SetRestrictionRequest(
            subject=subject, restricted=restricted, request_id=request_id))

    async def restrictions(self) -> api_privacy.ListRestrictionsResponse:
        """Every restriction."""
        return await self.client.call(self.stub.ListRestrictions,
                                      api_privacy.ListRestrictionsRequest())

    async def requests(self, open_only: bool = False,
                       tenant_id: str = "") -> api_privacy.ListRequestsResponse:
        """The tracked requests, newest first."""
        return await self.client.call(self.stub.ListRequests, api_privacy.ListRequestsRequest(
            open_only=open_only, tenant_id=tenant_id))

    async def open_request(self, req: api_privacy.OpenRequestRequest) -> api_privacy.PrivacyRequest:
        """Log a request received elsewhere."""
        return await self.client.call(self.stub.OpenRequest, req)

    async def withdraw(self, request_id: str, reason: str) -> api_privacy.PrivacyRequest:
        """Close an open request without an operation."""
        return await self.client.call(self.stub.WithdrawRequest,
                                      api_privacy.WithdrawRequestRequest(request_id=request_id,
                                                                         reason=reason))

    async def retention(self, tenant_id: str = "") -> api_privacy.RetentionPolicy:
        """The tenant's retention periods."""
        return await self.client.call(self.stub.GetRetention,
                                      api_privacy.GetRetentionRequest(tenant_id=tenant_id))

    async def set_retention(
        self, policy: api_privacy.RetentionPolicy
    ) -> api_privacy.RetentionPolicy:
        """Shorten retention periods."""
        return await self.client.call(self.stub.SetRetention,
                                      api_privacy.SetRetentionRequest(policy=policy))
