"""Export round trip on both backends: every object present, checksums match, a subject's
export holds nothing of other subjects, the manifest follows its JSON Schema, a download
resumes at an offset, and the export is recorded as a completed request."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from privacy_world import World, read_zip, wav

from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.errors import InvalidArgument, NotFound
from fabric.vault.content import RECORDING, SMS_BODY, TRANSCRIPT, VOICEMAIL

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "docs" / "export-manifest.schema.json").read_text()
)
OUTSIDE = "+15550100777"
OTHER = "+15550100888"


async def _populate(w: World) -> dict[str, str]:
    alice = await w.user("Alice Able", "101")
    bob = await w.user("Bob Baker", "102")
    await w.cdr("101", "102")
    await w.cdr(OUTSIDE, "101")
    await w.cdr(OTHER, "102")
    await w.put(VOICEMAIL, "vm-101-a", wav(), subjects=f"{alice},{OUTSIDE}", call_id="c1",
                audio_format="wav")
    await w.put(VOICEMAIL, "vm-102-b", wav(), subjects=f"{bob},{OTHER}", audio_format="wav")
    await w.put(TRANSCRIPT, "tr-vm-101-a", b'{"text": "call me back"}', parent="vm-101-a")
    await w.put(RECORDING, "rec-1", b"\x01\x02" * 4000, subjects=f"{bob},{alice}")
    await w.put(SMS_BODY, "sms-1", b"hello from outside", subjects=f"{OUTSIDE},{alice}")
    await w.put(SMS_BODY, "sms-2", b"to bob", subjects=f"{OTHER},{bob}")
    return {"alice": alice, "bob": bob}


def _check_files(data: bytes) -> dict:
    z = read_zip(data)
    assert z.testzip() is None
    manifest = json.loads(z.read("manifest.json"))
    jsonschema.validate(manifest, SCHEMA)
    listed = {f["path"] for f in manifest["files"]}
    assert listed | {"manifest.json"} == set(z.namelist())
    for f in manifest["files"]:
        body = z.read(f["path"])
        assert hashlib.sha256(body).hexdigest() == f["sha256"], f["path"]
        assert len(body) == f["bytes"]
    return manifest


async def test_whole_tenant_export_holds_every_object_with_matching_checksums(
    world: World,
) -> None:
    ids = await _populate(world)
    data, summary, events = await world.export()
    manifest = _check_files(data)
    z = read_zip(data)
    assert summary.total_bytes == len(data)
    assert summary.zip_sha256 == hashlib.sha256(data).hexdigest()
    assert manifest["counts"]["cdr"] == 3
    assert manifest["counts"][VOICEMAIL] == 2 and manifest["counts"][RECORDING] == 1
    assert manifest["counts"][TRANSCRIPT] == 1 and manifest["counts"][SMS_BODY] == 2
    assert manifest["policy_version"] and manifest["scope"] == "tenant"
    assert z.read("voicemail/vm-101-a.wav") == wav()
    rec = z.read("recordings/rec-1.wav")
    assert rec[:4] == b"RIFF" and rec[44:] == b"\x01\x02" * 4000  # raw PCM gets a header
    assert json.loads(z.read("sms/sms-1.json"))["body"] == "hello from outside"
    assert json.loads(z.read("transcripts/tr-vm-101-a.json"))["text"] == {"text": "call me back"}
    assert len(z.read("cdrs.csv").decode().strip().splitlines()) == 4  # header + 3
    assert len(z.read("cdrs.jsonl").decode().strip().splitlines()) == 3
    tenant = json.loads(z.read("account/tenant.json"))
    assert {u["user_id"] for u in tenant["users"]} == {"u-owner", ids["alice"], ids["bob"]}
    phases = {e.progress.phase for e in events if e.HasField("progress")}
    assert {"account", "cdrs", "voicemail", "manifest"} <= phases
    assert events[-1].HasField("done")
    # the export itself is recorded
    req = await world.service.get_request(world.owner, summary_request(events))
    assert req.kind == api_privacy.REQUEST_EXPORT
    assert req.status == api_privacy.REQUEST_COMPLETED
    assert req.export.zip_sha256 == summary.zip_sha256


def summary_request(events: list[api_privacy.ExportEvent]) -> str:
    return events[-1].done.request_id


async def test_a_subjects_export_holds_nothing_of_other_subjects(world: World) -> None:
    ids = await _populate(world)
    data, _, _ = await world.export(ids["alice"])
    manifest = _check_files(data)
    z = read_zip(data)
    names = set(z.namelist())
    assert "voicemail/vm-101-a.wav" in names and "transcripts/tr-vm-101-a.json" in names
    assert "recordings/rec-1.wav" in names and "sms/sms-1.json" in names
    assert not names & {"voicemail/vm-102-b.wav", "sms/sms-2.json"}
    assert manifest["subject"] == {"id": ids["alice"], "kind": "user", "restricted": False}
    cdr_lines = z.read("cdrs.jsonl").decode().strip().splitlines()
    assert len(cdr_lines) == 2
    assert all("101" in (json.loads(x)["from_number"], json.loads(x)["to_number"])
               for x in cdr_lines)
    account = json.loads(z.read("account/user.json"))
    assert account["user"]["user_id"] == ids["alice"]
    assert [e["extension"] for e in account["extensions"]] == ["101"]
    blob = b"".join(z.read(n) for n in names)
    assert b"Bob Baker" not in blob and OTHER.encode() not in blob and b"to bob" not in blob

    data, _, _ = await world.export(OUTSIDE)
    z = read_zip(data)
    assert {n for n in z.namelist() if "/" in n} == {"voicemail/vm-101-a.wav",
                                                      "transcripts/tr-vm-101-a.json",
                                                      "sms/sms-1.json"}
    assert len(z.read("cdrs.jsonl").decode().strip().splitlines()) == 1


async def test_a_download_resumes_at_an_offset(world: World) -> None:
    await _populate(world)
    whole, summary, events = await world.export()
    request_id = events[-1].done.request_id
    cut = len(whole) // 3
    rest, again, _ = await world.export(request_id=request_id, offset=cut)
    assert whole[:cut] + rest == whole
    assert again.zip_sha256 == summary.zip_sha256
    with pytest.raises(InvalidArgument) as info:
        await world.export(request_id=request_id, offset=len(whole) + 1)
    assert info.value.error_id == "export-offset"


async def test_restriction_shows_in_the_export(world: World) -> None:
    await _populate(world)
    await world.service.set_restriction(
        world.owner, api_privacy.SetRestrictionRequest(subject=OUTSIDE, restricted=True)
    )
    data, _, _ = await world.export(OUTSIDE)
    manifest = _check_files(data)
    assert manifest["subject"]["restricted"] is True
    assert manifest["restrictions"][0]["subject"] == OUTSIDE


async def test_another_tenants_subject_is_refused_as_absent(world: World) -> None:
    ids = await _populate(world)
    other_id, other_owner = await world.new_tenant()
    for subject in (ids["alice"], OUTSIDE):
        with pytest.raises(NotFound) as info:
            await world.export(subject, who=other_owner)
        assert info.value.error_id == "subject-not-found"
        with pytest.raises(NotFound):
            await world.service.erase(other_owner, api_privacy.EraseRequest(subject=subject))
    with pytest.raises(NotFound):  # nor an object by its id
        await world.service.erase(other_owner, api_privacy.EraseRequest(
            object=api_privacy.ObjectRef(data_class=VOICEMAIL, object_id="vm-101-a")))
    assert (await world.content.info(world.tenant_id, VOICEMAIL, "vm-101-a")).size > 0
