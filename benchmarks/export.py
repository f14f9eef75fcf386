"""Privacy export: MB/s and time to first byte against a raw read of the same data, same run.

A tenant on the embedded store (or Cassandra with ``--backend cassandra`` and the
``FABRIC_STORAGE__*`` settings) with ``--cdrs`` CDRs (numbers sealed), ``--voicemails``
voicemails of ``--vm-kb`` KB and ``--sms`` SMS-sized objects (160 bytes), all sealed in the
vault. Ours: ``PrivacyService.export`` of the whole tenant (the zip: CSV + JSON Lines of every
CDR, a WAV per voicemail, a JSON per SMS, SHA-256 per file and of the zip, the manifest),
in-process (no gRPC), counting zip bytes. Baseline: a raw read of the same data through the
same stores: every CDR page of the same range and every object's plaintext, nothing written.
Both rates are over the zip's size (the same data), so the ratio is raw time / export time.
Raw and export alternate for ``--rounds`` rounds; the figures are medians.

Target (issue 13): export >= 0.5 of the raw read rate. Usage: python benchmarks/export.py
[--cdrs 100000] [--voicemails 1000] [--vm-kb 64] [--sms 10000] [--rounds 3]. Prints one JSON
line last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.messages.v1 import common_pb2 as msg_common  # noqa: E402
from actors.messages.v1 import tenant_pb2 as msg_tenant  # noqa: E402
from actors.privacy import PrivacyActor, PrivacyIndex  # noqa: E402
from actors.privacy.service import PrivacyService  # noqa: E402
from actors.privacy.sources import Sources  # noqa: E402
from actors.tenant import TenantActor, tenant_address  # noqa: E402
from fabric.api.v1 import common_pb2 as api_common  # noqa: E402
from fabric.api.v1 import privacy_pb2 as api_privacy  # noqa: E402
from fabric.cdr import Cdr, Direction, Disposition  # noqa: E402
from fabric.config import FabricSettings, StorageSettings, VaultSettings  # noqa: E402
from fabric.edge.credentials import new_api_key  # noqa: E402
from fabric.storage.factory import Stores, open_stores  # noqa: E402
from fabric.systems import LocalActorSystem  # noqa: E402
from fabric.vault.content import SMS_BODY, VOICEMAIL, ContentStore  # noqa: E402
from fabric.vault.vault import Vault  # noqa: E402


async def populate(stores: Stores, tenant: str, a: argparse.Namespace) -> None:
    """Write the tenant's CDRs and content (untimed)."""
    assert stores.content is not None
    now = datetime.now(UTC)
    numbers = [f"+1555010{i:04d}" for i in range(200)]

    async def cdr(i: int) -> None:
        # within the last 23 hours: the tenant was just made, and exports read from its creation
        start = now - timedelta(minutes=1 + i % 1380, seconds=i % 60)
        await stores.cdr.write(Cdr(
            call_id=f"c{i:08d}{uuid.uuid4().hex[:8]}", tenant_id=tenant,
            from_number=numbers[i % 200], to_number=f"{100 + i % 50}",
            direction=Direction.INBOUND, start_time=start, answer_time=start,
            end_time=start + timedelta(seconds=45), duration_s=45, billable_s=45,
            disposition=Disposition.ANSWERED, hangup_cause="normal-clearing",
        ))

    for lo in range(0, a.cdrs, 200):
        await asyncio.gather(*(cdr(i) for i in range(lo, min(a.cdrs, lo + 200))))
    audio = os.urandom(a.vm_kb * 1024)
    for i in range(a.voicemails):
        await stores.content.put(tenant, VOICEMAIL, f"vm-{i:05d}", audio,
                                 {"subjects": numbers[i % 200], "audio_format": "pcm16le"})
    for i in range(a.sms):
        await stores.content.put(tenant, SMS_BODY, f"sms-{i:05d}", os.urandom(80).hex().encode(),
                                 {"subjects": numbers[i % 200]})


async def raw_read(src: Sources, tenant: str, since_ms: int) -> tuple[float, float, int]:
    """(seconds, seconds to the first byte, bytes) of reading every CDR and object."""
    began = time.perf_counter()
    first = 0.0
    n = 0
    start = datetime.fromtimestamp(since_ms / 1000, UTC)
    end = datetime.now(UTC) + timedelta(minutes=1)
    token = ""
    while True:
        page = await src.cdr.query(tenant, start, end, page_size=1000, page_token=token)
        if not first and page.records:
            first = time.perf_counter() - began
        n += len(page.records)
        token = page.next_page_token
        if not token or not page.records:
            break
    size = 0
    for data_class in (VOICEMAIL, SMS_BODY):
        for info in await src.content.list(tenant, data_class):
            reader = await src.content.open(tenant, data_class, info.object_id)
            async for chunk in reader.chunks():
                size += len(chunk)
    return time.perf_counter() - began, first, n


async def export(
    service: PrivacyService, owner: msg_common.Principal
) -> tuple[float, float, int, dict[str, int]]:
    """(seconds, seconds to the first byte, zip bytes, counts) of one whole-tenant export."""
    began = time.perf_counter()
    first = 0.0
    size = 0
    counts: dict[str, int] = {}
    async for ev in service.export(owner, api_privacy.ExportRequest()):
        if ev.HasField("data"):
            if not first:
                first = time.perf_counter() - began
            size += len(ev.data.chunk)
        elif ev.HasField("done"):
            counts = dict(ev.done.summary.counts)
    return time.perf_counter() - began, first, size, counts


async def main(a: argparse.Namespace) -> dict[str, object]:
    """Populate, then alternate raw reads and exports."""
    with TemporaryDirectory(prefix="bench-export-") as tmp:
        if a.backend == "cassandra":
            settings = FabricSettings().storage.model_copy(update={"backend": "cassandra"})
        else:
            settings = StorageSettings(backend="embedded", data_dir=Path(tmp) / "data")
        vs = VaultSettings(root_key_file=Path(tmp) / "keys" / "root.key")
        stores = await open_stores(settings, vault_settings=vs, sweep=False)
        assert stores.content is not None and stores.vault is not None
        system = LocalActorSystem([TenantActor, PrivacyActor, PrivacyIndex],
                                  state_store=stores.state, reminder_store=stores.reminders,
                                  services={ContentStore: stores.content, Vault: stores.vault})
        await system.start()
        try:
            tenant = f"t-bench-{uuid.uuid4().hex[:8]}"
            key_id, _, digest = new_api_key(tenant)
            await system.ref(tenant_address(tenant)).ask(msg_tenant.CreateTenant(
                tenant_id=tenant, name="bench", owner_name="Owner", owner_user_id="u-owner",
                owner_key_id=key_id, owner_secret_hash=digest))
            owner = msg_common.Principal(tenant_id=tenant, user_id="u-owner",
                                         role=api_common.ROLE_OWNER)
            t0 = time.perf_counter()
            await populate(stores, tenant, a)
            print(f"populated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            src = Sources(stores.cdr, stores.content, stores.mdr)
            service = PrivacyService(system, src)
            since = int(time.time() * 1000) - 86_400_000  # as the export: creation - 1 day
            ratios, ours, base, ttfb, ttfb_raw = [], [], [], [], []
            size = 0
            for r in range(a.rounds):
                raw_s, raw_first, cdrs = await raw_read(src, tenant, since)
                exp_s, exp_first, size, counts = await export(service, owner)
                want = {"cdr": a.cdrs, "voicemail": a.voicemails, "sms-body": a.sms}
                got = {k: counts.get(k, 0) for k in want}
                if got != want or cdrs != a.cdrs:
                    raise SystemExit(f"export holds {got}, raw read {cdrs} CDRs; wanted {want}")
                ratios.append(raw_s / exp_s)
                ours.append(size / exp_s / 1e6)
                base.append(size / raw_s / 1e6)
                ttfb.append(exp_first * 1000)
                ttfb_raw.append(raw_first * 1000)
                print(f"round {r}: export {exp_s:.2f} s ({size / 1e6:.1f} MB, first byte "
                      f"{exp_first * 1000:.0f} ms), raw read {raw_s:.2f} s ({cdrs} CDRs, first "
                      f"{raw_first * 1000:.0f} ms)", file=sys.stderr)
        finally:
            await system.stop()
            await stores.close()
    return {
        "bench": "privacy_export", "value": round(statistics.median(ours), 2), "unit": "MB/s",
        "baseline": round(statistics.median(base), 2),
        "ratio": round(statistics.median(ratios), 3),
        "ttfb_ms": round(statistics.median(ttfb), 1),
        "baseline_ttfb_ms": round(statistics.median(ttfb_raw), 1),
        "zip_mb": round(size / 1e6, 1), "cdrs": a.cdrs, "voicemails": a.voicemails,
        "sms": a.sms, "backend": a.backend, "target_ratio": 0.5,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cdrs", type=int, default=100_000)
    p.add_argument("--voicemails", type=int, default=1000)
    p.add_argument("--vm-kb", type=int, default=64)
    p.add_argument("--sms", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backend", choices=("embedded", "cassandra"), default="embedded")
    print(json.dumps(asyncio.run(main(p.parse_args()))))
