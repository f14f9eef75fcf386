"""Build an export: a zip of the whole tenant or one subject, streamed as events.

Layout (documented in ``docs/export-format.md``, manifest schema in
``docs/export-manifest.schema.json``): ``account/`` (the tenant's configuration, or the
user's own record and extensions), ``cdrs.csv`` + ``cdrs.jsonl``, ``messages.csv`` +
``messages.jsonl`` (message detail records), ``voicemail/*.wav``, ``recordings/*.wav``,
``transcripts/*.json``, ``sms/*.json``, and ``manifest.json`` last (what, when, counts,
SHA-256 and size of every file, the policy version, restrictions).

The bytes depend only on the data and the as-of time (every entry has the same timestamp,
records and objects come in a fixed order, nothing newer than as-of is included), so an
interrupted download is resumed by building again and skipping ``offset`` bytes; the final
SHA-256 of the whole zip tells the client whether the joined file is whole.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import struct
from collections.abc import AsyncIterator, Iterable
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from actors.privacy import policy
from actors.privacy.sources import Sources, cdrs, mdrs, subject_objects
from actors.privacy.subjects import Subject
from actors.privacy.zipstream import ZipStream
from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.api.v1 import tenant_pb2 as api_tenant
from fabric.audit.export import tenant_log_jsonl
from fabric.audit.store import AuditStore
from fabric.cdr import Cdr
from fabric.errors import InvalidArgument, NotFound
from fabric.vault.content import RECORDING, SMS_BODY, TRANSCRIPT, VOICEMAIL, ContentInfo

CHUNK = 1 << 20
FLUSH_AT = 256 * 1024
BUFFER_LIMIT = 64 << 20
"""JSON Lines held in memory while the CSV of the same records is written; beyond it the
records are read a second time instead."""
CDR_COLUMNS = tuple(f.name for f in fields(Cdr))
MDR_COLUMNS = (
    "message_id", "direction", "from_number", "to_number", "sent_at_ms", "segments",
    "encoding", "status",
)
FOLDERS = {
    VOICEMAIL: ("voicemail", ".wav"),
    RECORDING: ("recordings", ".wav"),
    TRANSCRIPT: ("transcripts", ".json"),
    SMS_BODY: ("sms", ".json"),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def wav_header(data_len: int, rate: int, channels: int, bits: int = 16, fmt: int = 1) -> bytes:
    """A 44-byte RIFF/WAVE header for ``data_len`` bytes of PCM (fmt 1) or u-law (fmt 7)."""
    block = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
        + b"data" + struct.pack("<I", data_len)
    )


def audio_header(info: ContentInfo, first: bytes) -> bytes:
    """The header to put before an audio object's bytes ("" when it is already a WAV)."""
    fmt = info.metadata.get("audio_format", "pcm16le").lower()
    if fmt == "wav" or first[:4] == b"RIFF":
        return b""
    rate = int(info.metadata.get("sample_rate", "8000") or 8000)
    channels = int(info.metadata.get("channels", "1") or 1)
    if fmt in ("mulaw", "pcmu", "ulaw"):
        return wav_header(info.size, rate, channels, bits=8, fmt=7)
    return wav_header(info.size, rate, channels)


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _json_value(value: Any) -> Any:
    """A record's value as JSON data (times ISO 8601, enums by value, tuples as lists)."""
    kind = type(value)
    if kind is datetime:
        return value.isoformat()
    if kind is tuple:
        return list(value)
    if isinstance(value, str) and kind is not str:  # a StrEnum
        return str(value.value) if hasattr(value, "value") else str(value)
    return value


def cdr_row(cdr: Cdr) -> dict[str, Any]:
    """A CDR as JSON data, in column order (as ``Cdr.to_dict`` makes it, without its
    per-field reflection: exports write millions of these)."""
    return {c: _json_value(getattr(cdr, c)) for c in CDR_COLUMNS}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if type(value) is list:
        return ";".join(str(v) for v in value)
    return value


def _csv(rows: Iterable[dict[str, Any]], columns: tuple[str, ...], header: bool) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if header:
        w.writerow(columns)
    w.writerows([_cell(r.get(c)) for c in columns] for r in rows)
    return out.getvalue().encode()


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join([_JSON.encode(r) + "\n" for r in rows]).encode()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class Export:
    """One export build; iterate :meth:`events`, then read :attr:`summary`."""

    def __init__(
        self,
        src: Sources,
        tenant_id: str,
        *,
        request_id: str,
        subject: Subject | None,
        as_of_ms: int,
        since_ms: int,
        config: api_tenant.TenantConfig,
        restrictions: list[api_privacy.Restriction],
        retention: api_privacy.RetentionPolicy,
        offset: int = 0,
    ) -> None:
        self.src = src
        self.tenant_id = tenant_id
        self.request_id = request_id
        self.subject = subject
        self.as_of_ms = as_of_ms
        self.since_ms = since_ms
        self.config = config
        self.restrictions = restrictions
        self.retention = retention
        self.offset = offset
        self.zip = ZipStream(as_of_ms / 1000)
        self.files: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.skipped: list[dict[str, str]] = []
        self.position = 0
        self.sent = offset
        self._hash = hashlib.sha256()
        self.summary = api_privacy.ExportSummary()

    # ---- output -------------------------------------------------------------------------

    def _drain(self, force: bool = False) -> list[api_privacy.ExportEvent]:
        if not force and self.zip.pending() < FLUSH_AT:
            return []
        data = self.zip.take()
        self._hash.update(data)
        start = self.position
        self.position += len(data)
        if self.position <= self.offset:
            return []
        view = memoryview(data)[max(0, self.offset - start):]
        base = max(start, self.offset)
        out = []
        for i in range(0, len(view), CHUNK):
            piece = bytes(view[i : i + CHUNK])
            out.append(api_privacy.ExportEvent(
                data=api_privacy.ExportData(offset=base + i, chunk=piece)
            ))
        self.sent = self.position
        return out

    def _progress(self, phase: str, done: int, total: int = 0) -> api_privacy.ExportEvent:
        return api_privacy.ExportEvent(progress=api_privacy.ExportProgress(
            request_id=self.request_id, phase=phase, items_done=done, items_total=total,
            bytes_sent=self.sent,
        ))

    def _file(self, path: str, data_class: str, **extra: Any) -> None:
        sha, size = self.zip.end()
        self.files.append({"path": path, "data_class": data_class, "bytes": size,
                           "sha256": sha, **extra})

    def _whole(self, path: str, data_class: str, data: bytes, **extra: Any) -> None:
        self.zip.begin(path, len(data))
        self.zip.write(data)
        self._file(path, data_class, **extra)

    # ---- the build ----------------------------------------------------------------------

    async def events(self) -> AsyncIterator[api_privacy.ExportEvent]:
        """Progress, data and, last, done (the summary is then in :attr:`summary`)."""
        yield self._progress("account", 0, 1)
        self._account()
        for ev in self._drain(force=True):  # the first bytes go out at once
            yield ev
        async for ev in self._records("cdrs", "cdr", CDR_COLUMNS):
            yield ev
        async for ev in self._records("messages", "message-record", MDR_COLUMNS):
            yield ev
        if self.subject is None and self.src.audit is not None:  # issue 14
            yield self._progress("audit", 0, 1)
            await self._audit(self.src.audit)
            for ev in self._drain():
                yield ev
        groups = await subject_objects(self.src, self.tenant_id, self.subject,
                                       self.as_of_ms / 1000)
        for data_class, infos in groups.items():
            folder = FOLDERS[data_class][0]
            yield self._progress(folder, 0, len(infos))
            done = 0
            for info in infos:
                await self._object(data_class, info)
                done += 1
                for ev in self._drain():
                    yield ev
                if done % 50 == 0:
                    yield self._progress(folder, done, len(infos))
            self.counts[data_class] = done
        yield self._progress("manifest", 0, 1)
        self._whole("manifest.json", "manifest", self._manifest())
        self.zip.finish()
        for ev in self._drain(force=True):
            yield ev
        if self.offset > self.position:
            raise InvalidArgument(
                f"offset is past the end of this export ({self.position} bytes)",
                error_id="export-offset", details={"field": "offset"},
            )
        self.summary = api_privacy.ExportSummary(
            total_bytes=self.position, zip_sha256=self._hash.hexdigest(),
            files=len(self.files), counts=self.counts, as_of_ms=self.as_of_ms,
            subject=self.subject.subject if self.subject else "",
        )
        yield api_privacy.ExportEvent(done=api_privacy.ExportDone(
            request_id=self.request_id, summary=self.summary
        ))

    def _account(self) -> None:
        s = self.subject
        if s is None:
            body = MessageToDict(self.config, preserving_proto_field_name=True)
            self.counts["user"] = len(self.config.users)
            self.counts["extension"] = len(self.config.extensions)
            path = "account/tenant.json"
        elif s.user is not None:
            body = {
                "user": MessageToDict(s.user, preserving_proto_field_name=True),
                "extensions": [
                    MessageToDict(e, preserving_proto_field_name=True)
                    for e in self.config.extensions if e.user_id == s.subject
                ],
            }
            self.counts["user"] = 1
            self.counts["extension"] = len(body["extensions"])
            path = "account/user.json"
        else:
            return  # an outside number has no account data
        data = json.dumps(body, indent=1, sort_keys=True).encode()
        self._whole(path, "account", data, records=1)

    async def _rows(self, name: str) -> AsyncIterator[dict[str, Any]]:
        if name == "cdrs":
            async for cdr in cdrs(self.src, self.tenant_id, self.since_ms, self.as_of_ms,
                                  self.subject):
                yield cdr_row(cdr)
        else:
            async for row in mdrs(self.src, self.tenant_id, self.since_ms, self.as_of_ms,
                                  self.subject):
                yield row

    async def _records(
        self, name: str, data_class: str, columns: tuple[str, ...]
    ) -> AsyncIterator[api_privacy.ExportEvent]:
        if name == "messages" and self.src.mdr is None:
            self.counts[data_class] = 0
            return
        yield self._progress(name, 0)
        self.zip.begin(f"{name}.csv")
        self.zip.write(_csv((), columns, header=True))
        lines: list[bytes] | None = []
        held = 0
        n = 0
        batch: list[dict[str, Any]] = []
        async for row in self._rows(name):
            batch.append(row)
            if len(batch) >= 1000:
                n += len(batch)
                held = self._batch(batch, columns, lines, held)
                if held > BUFFER_LIMIT:
                    lines = None
                batch = []
                for ev in self._drain():
                    yield ev
                if n % 10_000 == 0:
                    yield self._progress(name, n)
        n += len(batch)
        self._batch(batch, columns, lines, held)
        self._file(f"{name}.csv", data_class, records=n)
        self.zip.begin(f"{name}.jsonl")
        if lines is not None:
            for piece in lines:
                self.zip.write(piece)
        else:  # too many to hold: read them again
            async for row in self._rows(name):
                self.zip.write(_jsonl((row,)))
        self._file(f"{name}.jsonl", data_class, records=n)
        self.counts[data_class] = n
        yield self._progress(name, n, n)

    def _batch(self, batch: list[dict[str, Any]], columns: tuple[str, ...],
               lines: list[bytes] | None, held: int) -> int:
        if not batch:
            return held
        self.zip.write(_csv(batch, columns, header=False))
        if lines is not None:
            piece = _jsonl(batch)
            lines.append(piece)
            held += len(piece)
        return held

    async def _object(self, data_class: str, info: ContentInfo) -> None:
        folder, ext = FOLDERS[data_class]
        path = f"{folder}/{_UNSAFE.sub('_', info.object_id)}{ext}"
        extra = {"object_id": info.object_id, "created": _iso(int(info.created * 1000)),
                 "metadata": dict(sorted(info.metadata.items()))}
        try:
            reader = await self.src.content.open(self.tenant_id, data_class, info.object_id)
        except NotFound:  # deleted since it was listed
            self.skipped.append({"data_class": data_class, "object_id": info.object_id})
            return
        if ext == ".json":
            raw = await reader.read_all()
            try:
                content: Any = json.loads(raw)
            except ValueError:
                content = raw.decode("utf-8", errors="replace")
            body = {"object_id": info.object_id, "created": extra["created"],
                    "metadata": extra["metadata"],
                    ("text" if data_class == TRANSCRIPT else "body"): content}
            self._whole(path, data_class, json.dumps(body, indent=1, sort_keys=True).encode(),
                        **extra)
            return
        chunks = reader.chunks()
        first = b""
        async for piece in chunks:
            first = piece
            break
        header = audio_header(info, first)
        self.zip.begin(path, len(header) + info.size)
        self.zip.write(header)
        self.zip.write(first)
        async for piece in chunks:
            self.zip.write(piece)
        self._file(path, data_class, **extra)

    async def _audit(self, store: AuditStore) -> None:
        """The tenant's audit log up to the export's as-of time (so a resumed export is the
        same bytes), one JSON entry per line, in chain order."""
        limit_us = self.as_of_ms * 1000
        lines = [line async for line in tenant_log_jsonl(store, self.tenant_id)]
        kept = [line for line in lines if json.loads(line)["at_us"] <= limit_us]
        self.counts["audit-entry"] = len(kept)
        self._whole("audit/audit.jsonl", "audit", b"".join(kept), records=len(kept))

    def _manifest(self) -> bytes:
        s = self.subject
        subject: dict[str, Any] | None = None
        if s is not None:
            r = next((x for x in self.restrictions if x.subject == s.subject), None)
            subject = {"id": s.subject, "kind": "user" if s.user is not None else "number",
                       "restricted": bool(r and r.restricted)}
        restrictions = [
            {"subject": r.subject, "restricted": r.restricted, "since": _iso(r.since_ms)}
            for r in self.restrictions if s is None or r.subject == s.subject
        ]
        retention = MessageToDict(policy.effective(self.retention),
                                  preserving_proto_field_name=True)
        body = {
            "format": "callfabric-export",
            "format_version": 1,
            "policy_version": policy.POLICY_VERSION,
            "tenant_id": self.tenant_id,
            "request_id": self.request_id,
            "scope": "subject" if s is not None else "tenant",
            "subject": subject,
            "as_of": _iso(self.as_of_ms),
            "since": _iso(self.since_ms),
            "counts": dict(sorted(self.counts.items())),
            "files": self.files,
            "restrictions": restrictions,
            "retention": retention,
            "unavailable": [] if self.src.mdr is not None else ["message-record"],
            "skipped": self.skipped,
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

