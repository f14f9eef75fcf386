"""SMS on the embedded store, raw scan: a body and the numbers sent through the Messaging
servicer are on no file of the data folder in plaintext (SQLite files with -wal/-shm, content
chunk files), while the history and the message detail records read them back.

The actors run in one process (LocalActorSystem) over the real stores ``open_stores`` gives
a host (sealed actor state, sealed content, SQLite MDRs); the Cassandra twin of this scan is
in ``tests/e2e/test_sms_e2e.py``.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from actors.api.messaging import MessagingServicer
from actors.messages.v1 import numbers_pb2 as msg_numbers
from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.number import DIRECTORY, NumberDirectory
from actors.privacy import PrivacyActor
from actors.sms import ConversationActor, ConversationKeys, SmsTenantActor, VaultConversationKeys
from actors.tenant import TenantActor, tenant_address
from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.api.v1 import messaging_pb2 as api_messaging
from fabric.config import StorageSettings, VaultSettings
from fabric.edge.auth import Principal, Role, current_principal
from fabric.edge.credentials import new_api_key
from fabric.storage.factory import open_stores
from fabric.storage.mdr import MdrStore
from fabric.systems import LocalActorSystem
from fabric.vault.content import ContentStore


async def _tenant(system: LocalActorSystem, tenant_id: str) -> list[str]:
    key_id, _, digest = new_api_key(tenant_id)
    await system.ref(tenant_address(tenant_id)).ask(msg_tenant.CreateTenant(
        tenant_id=tenant_id, name=tenant_id, plan=api_carrier.PLAN_STANDARD, owner_name="O",
        owner_user_id="u-owner", owner_key_id=key_id, owner_secret_hash=digest))
    got = await system.ref(DIRECTORY).ask(
        msg_numbers.AllocateNumbers(tenant_id=tenant_id, count=1),
        reply=msg_numbers.AllocatedNumbers)
    await system.ref(tenant_address(tenant_id)).ask(msg_tenant.AddNumbers(numbers=got.numbers))
    return list(got.numbers)


async def test_embedded_store_holds_no_body_nor_number(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stores = await open_stores(
        StorageSettings(data_dir=data, spool_dir=tmp_path / "spool"), sweep=False,
        vault_settings=VaultSettings(root_key_file=tmp_path / "keys" / "root.key"),
    )
    assert stores.content is not None and stores.mdr is not None and stores.vault is not None
    system = LocalActorSystem(
        [TenantActor, NumberDirectory, ConversationActor, SmsTenantActor, PrivacyActor],
        state_store=stores.state,
        services={ContentStore: stores.content, MdrStore: stores.mdr,
                  ConversationKeys: VaultConversationKeys(stores.vault)},
        background=False,
    )
    await system.start()
    marker = "SMS-MARKER-" + uuid.uuid4().hex
    try:
        ta, tb = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
        [a1] = await _tenant(system, ta)
        [b1] = await _tenant(system, tb)
        api = MessagingServicer(system, vault=stores.vault)
        current_principal.set(Principal(Role.OWNER, ta, "u-owner"))
        request = api_messaging.SendMessageRequest(to=b1, body=marker, **{"from": a1})
        sent = await api.SendMessage(request, None)  # type: ignore[arg-type]
        assert sent.status == api_messaging.DELIVERY_STATUS_DELIVERED
        current_principal.set(Principal(Role.OWNER, tb, "u-owner"))
        ref = api_messaging.ConversationRef(own_number=b1, other_number=a1)
        history = await api.GetHistory(
            api_messaging.GetHistoryRequest(conversation=ref), None)  # type: ignore[arg-type]
        assert [m.body for m in history.messages] == [marker]
        now_ms = int(time.time() * 1000)
        [record] = await stores.mdr.list(tb, now_ms - 60_000, now_ms + 60_000)
        assert (record.from_number, record.to_number, record.direction) == (a1, b1, "inbound")
    finally:
        await system.stop()
        await stores.close()
    needles: dict[str, bytes] = {
        "body": marker.encode(), "body utf-16": marker.encode("utf-16-le"),
        "sender": a1.encode(), "recipient": b1.encode(),
    }
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite3" and p.stem == "mdr" for p in files)
    assert any(p.parent.name == "content" or "content" in p.parts for p in files)
    leaks = [f"{name} in {p.relative_to(data)}" for p in files
             for name, needle in needles.items() if needle in p.read_bytes()]
    assert leaks == []
    # the scan reads what matters: the same bytes written in plaintext are found
    (data / "control.bin").write_bytes(b".." + marker.encode() + b"..")
    found = [p.name for p in data.rglob("*") if p.is_file() and marker.encode() in p.read_bytes()]
    assert found == ["control.bin"]
