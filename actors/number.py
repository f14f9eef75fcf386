"""The number directory: the carrier's pool of phone numbers and who holds each one.

One actor (kind ``numbers``, key ``global``) is the authority on number ownership, so that a
call to any tenant's number on this fabric resolves with one ask, and allocation can never
give one number to two tenants (the actor runs one message at a time and persists before
it answers). It never asks other actors, so it cannot take part in an ask cycle. Routing
*within* a tenant (which extension a number rings) is the TenantActor's business.

It also keeps the carrier's tenant index (every tenant id, oldest first) for ListTenants.

A directory of one actor is a hot spot by design: a lookup is a dictionary read, far
cheaper than the ask that carries it; if it ever limits dialing, shard by number prefix.
"""

from __future__ import annotations

from actors import validate
from actors.messages.v1 import numbers_pb2 as msg_numbers
from fabric.actor import ActorAddress, VirtualActor, handler
from fabric.errors import FailedPrecondition, InvalidArgument, NotFound

KIND = "numbers"
DIRECTORY = ActorAddress(KIND, "global")
MAX_ALLOCATE = 100

DEFAULT_POOL = msg_numbers.NumberRange(prefix="+1555010", first=0, last=9999, width=4)
"""Fictional +1 555 010 xxxx numbers: the pool of a fresh fabric (10,000 numbers)."""


def _in_range(number: str, rng: msg_numbers.NumberRange) -> bool:
    if not number.startswith(rng.prefix):
        return False
    suffix = number[len(rng.prefix) :]
    return len(suffix) == rng.width and suffix.isdigit() and rng.first <= int(suffix) <= rng.last


class NumberDirectory(VirtualActor[str]):
    """Allocates pool numbers to tenants, releases them, and says who holds a number."""

    kind = KIND

    async def on_activate(self) -> None:
        """Load the directory, seeding the default pool on first use."""
        state = await self.ctx.load_state(msg_numbers.NumberDirectoryState)
        if state is None:
            state = msg_numbers.NumberDirectoryState(pool=[DEFAULT_POOL])
        self.state = state

    def _in_pool(self, number: str) -> bool:
        return any(_in_range(number, rng) for rng in self.state.pool)

    @handler
    async def on_lookup(self, msg: msg_numbers.LookupNumber) -> msg_numbers.NumberOwner:
        """Who holds a number ('' for nobody), and whether it is in the carrier's pool."""
        return msg_numbers.NumberOwner(
            tenant_id=self.state.owner.get(msg.number, ""), in_pool=self._in_pool(msg.number)
        )

    @handler
    async def on_release(self, msg: msg_numbers.ReleaseNumber) -> msg_numbers.AllocatedNumbers:
        """Return one of a tenant's numbers to the pool."""
        if self.state.owner.get(msg.number) != msg.tenant_id:
            raise NotFound("the tenant holds no such number", error_id="number-not-found")
        del self.state.owner[msg.number]
        await self.ctx.save_state(self.state)
        return msg_numbers.AllocatedNumbers(numbers=[msg.number])

    @handler
    async def on_release_tenant(
        self, msg: msg_numbers.ReleaseTenantNumbers
    ) -> msg_numbers.AllocatedNumbers:
        """Return every number of a tenant to the pool (the tenant closed)."""
        held = sorted(n for n, t in self.state.owner.items() if t == msg.tenant_id)
        for number in held:
            del self.state.owner[number]
        if held:
            await self.ctx.save_state(self.state)
        return msg_numbers.AllocatedNumbers(numbers=held)

    @handler
    async def on_allocate(self, msg: msg_numbers.AllocateNumbers) -> msg_numbers.AllocatedNumbers:
        """Give pool numbers to a tenant: ``count`` free ones, or the exact ``numbers``."""
        if msg.numbers and msg.count:
            raise InvalidArgument(
                "give either count or numbers, not both", error_id="invalid-allocation"
            )
        if msg.numbers:
            if len(msg.numbers) > MAX_ALLOCATE or len(set(msg.numbers)) != len(msg.numbers):
                raise InvalidArgument(
                    f"numbers must be 1 to {MAX_ALLOCATE} distinct E.164 numbers",
                    error_id="invalid-allocation",
                )
            for number in msg.numbers:  # the whole request is checked before any lookup
                validate.e164(number, "numbers")
            for number in msg.numbers:
                if not self._in_pool(number):
                    raise NotFound(
                        "a requested number is not in the carrier's pool",
                        error_id="number-not-in-pool",
                    )
                if number in self.state.owner:
                    raise FailedPrecondition(
                        "a requested number is already allocated", error_id="number-taken"
                    )
            chosen = list(msg.numbers)
        else:
            if not 1 <= msg.count <= MAX_ALLOCATE:
                raise InvalidArgument(
                    f"count must be 1 to {MAX_ALLOCATE}", error_id="invalid-allocation"
                )
            chosen = self._free(msg.count)
            if len(chosen) < msg.count:
                raise FailedPrecondition(
                    "the carrier's pool has too few free numbers", error_id="pool-exhausted"
                )
        for number in chosen:
            self.state.owner[number] = msg.tenant_id
        await self.ctx.save_state(self.state)
        return msg_numbers.AllocatedNumbers(numbers=chosen)

    def _free(self, count: int) -> list[str]:
        out: list[str] = []
        for rng in self.state.pool:
            for suffix in range(rng.first, rng.last + 1):
                number = f"{rng.prefix}{suffix:0{rng.width}d}"
                if number not in self.state.owner:
                    out.append(number)
                    if len(out) == count:
                        return out
        return out

    @handler
    async def on_index_tenant(self, msg: msg_numbers.IndexTenant) -> msg_numbers.TenantIds:
        """Remember a new tenant for ListTenants (a second call for one id changes nothing)."""
        if msg.tenant_id not in self.state.tenant_ids:
            self.state.tenant_ids.append(msg.tenant_id)
            await self.ctx.save_state(self.state)
        return msg_numbers.TenantIds(total=len(self.state.tenant_ids))

    @handler
    async def on_list_tenants(self, msg: msg_numbers.ListTenantIds) -> msg_numbers.TenantIds:
        """Up to ``limit`` tenant ids from position ``offset``, oldest first."""
        ids = self.state.tenant_ids[msg.offset : msg.offset + msg.limit]
        return msg_numbers.TenantIds(tenant_ids=ids, total=len(self.state.tenant_ids))
