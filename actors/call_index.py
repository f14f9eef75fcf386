"""The ActiveCallIndex: the persisted list of a tenant's calls that have not ended.

Kind ``callindex``, key = tenant id. ``ListActiveCalls`` (and ``fabric call list``) reads
this list, then each call's own state, so the list and ``GetCall`` agree after a restart
of the fabric or the loss of a node: both come from the store, never from one actor's
memory (the TenantActor, which holds memory-only registrations, kept the list before).

CallActors ``tell`` ``CallStarted`` when a call starts ringing and ``CallEnded`` after its
CDR is written; an answered call says ``CallStarted`` again at each session check (a no-op
when listed), so a start that was lost with a host is listed again within one refresh
interval. A call listed but gone (its ``CallEnded`` lost with a host) is dropped by the
reader that finds it ended. Each change is saved before it is answered; saves are
pipelined (``pipelined_saves``: later messages are taken while a write is in flight and
one group commit carries them all), so a busy tenant's calls do not queue behind one
store round trip each.

New calls are admitted here (``AdmitCall``) against the plan's concurrent-call and
media-session limits: the index is the one place that sees all of a tenant's calls, one
message at a time.

It is an actor of its own, not a field of the tenant's state: a busy tenant starts and
ends calls many times a second, and each change rewrites only this small list, not the
whole configuration.
"""

from __future__ import annotations

from actors.messages.v1 import tenant_pb2 as msg_tenant
from actors.tenant.base import TenantId
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.edge.limits import exhausted

KIND = "callindex"
MAX_LISTED = 10_000
ADMIT_RETRY_S = 5.0


def index_address(tenant_id: str) -> ActorAddress:
    """The address of a tenant's active-call index."""
    return ActorAddress(KIND, tenant_id)


class ActiveCallIndex(VirtualActor[TenantId]):
    """The ids of a tenant's active calls, saved on every change."""

    kind = KIND
    pipelined_saves = True  # answers wait for the write; the next turns do not

    async def on_activate(self) -> None:
        """Load the saved list (empty for a tenant with no call yet)."""
        state = await self.ctx.load_state(msg_tenant.ActiveCallIds)
        self.calls: set[str] = set(state.call_ids) if state is not None else set()
        self.media: set[str] = set(state.media_call_ids) if state is not None else set()

    async def _save(self) -> None:
        await self.ctx.save_state(msg_tenant.ActiveCallIds(
            call_ids=sorted(self.calls), media_call_ids=sorted(self.media & self.calls)))

    @handler
    async def on_admit(self, msg: msg_tenant.AdmitCall) -> msg_tenant.CallAdmitted:
        """Count a new call if the plan's limits allow it (one message at a time, so a burst
        of dials cannot pass the check together)."""
        if msg.call_id not in self.calls:
            if len(self.calls) >= msg.max_calls:
                raise exhausted("concurrent-calls", "your tenant has as many calls going as "
                                "its plan allows", ADMIT_RETRY_S)
            if msg.media and len(self.media & self.calls) >= msg.max_media:
                raise exhausted("media-sessions", "your tenant has as many calls with media "
                                "as its plan allows", ADMIT_RETRY_S)
            self.calls.add(msg.call_id)
            if msg.media:
                self.media.add(msg.call_id)
            await self._save()
        return msg_tenant.CallAdmitted(active=len(self.calls))

    @handler
    async def on_started(self, msg: msg_tenant.CallStarted) -> None:
        """A call of this tenant started (or says again that it goes on)."""
        if msg.call_id not in self.calls and len(self.calls) < MAX_LISTED:
            self.calls.add(msg.call_id)
            await self._save()

    @handler
    async def on_ended(self, msg: msg_tenant.CallEnded) -> None:
        """A call of this tenant ended (or was found ended by a reader)."""
        if msg.call_id in self.calls:
            self.calls.discard(msg.call_id)
            self.media.discard(msg.call_id)
            await self._save()

    @handler
    async def on_list(self, msg: msg_tenant.ListActiveCallIds) -> msg_tenant.ActiveCallIds:
        """The ids of the tenant's calls that have not ended (sorted)."""
        return msg_tenant.ActiveCallIds(call_ids=sorted(self.calls))
