"""``fabric tenant`` (carrier) and ``fabric number`` (carrier: add/delete; admin: list/get/set)."""

from __future__ import annotations

import click

from fabric.api.v1 import carrier_pb2 as api_carrier
from fabric.client.client import FabricClient

from .base import Group, confirm, pass_session, yes_option
from .output import as_dict, done, emit, emit_fields, enum, when
from .session import ADMIN, OPERATOR, Session

PLANS = {"standard": api_carrier.PLAN_STANDARD, "pro": api_carrier.PLAN_PRO}
TENANT_ID = click.argument("tenant_id", metavar="TENANT_ID")


def _status(t: api_carrier.Tenant) -> str:
    return enum(api_carrier.TenantStatus.Name(t.status), "TENANT_STATUS_")


def _plan(t: api_carrier.Tenant) -> str:
    return enum(api_carrier.Plan.Name(t.plan), "PLAN_")


def _tenant_line(t: api_carrier.Tenant) -> str:
    return (f"tenant {t.tenant_id}  {t.name!r}  {_plan(t)}  {_status(t)}  "
            f"numbers: {len(t.numbers)}")


@click.group(cls=Group)
def tenant() -> None:
    """Carrier (a carrier-admin's key; `make up` makes yours): the tenants - businesses -
    on this fabric."""


@tenant.command("list")
@click.option("--status", type=click.Choice(["active", "suspended", "closed"]),
              help="only tenants in this state")
@pass_session
def tenant_list(s: Session, status: str | None) -> None:
    """Every tenant (id, name, plan, state, numbers, created)."""

    async def body(c: FabricClient) -> None:
        found = [t for t in await c.list_tenants() if status in (None, _status(t))]
        emit(s, [as_dict(t) for t in found],
             ["tenant", "name", "plan", "status", "numbers", f"created ({s.tz})"],
             [(t.tenant_id, t.name, _plan(t), _status(t), len(t.numbers),
               when(t.created_at_ms, s.tz)) for t in found])

    s.run(OPERATOR, body)


@tenant.command("get")
@TENANT_ID
@pass_session
def tenant_get(s: Session, tenant_id: str) -> None:
    """One tenant."""

    async def body(c: FabricClient) -> None:
        t = await c.get_tenant(tenant_id)
        emit_fields(s, as_dict(t), [
            ("tenant", t.tenant_id), ("name", t.name), ("plan", _plan(t)),
            ("status", _status(t)), ("region", t.region or "us"),
            ("numbers", ", ".join(t.numbers) or "-"),
            (f"created ({s.tz})", when(t.created_at_ms, s.tz)),
        ])

    s.run(OPERATOR, body)


@tenant.command("add")
@click.argument("name")
@click.option("--owner", default="Owner", show_default=True, help="the owner's display name")
@click.option("--plan", type=click.Choice(sorted(PLANS)), default="standard", show_default=True)
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True,
              help="where its data is kept (never changes afterwards)")
@pass_session
def tenant_add(s: Session, name: str, owner: str, plan: str, region: str) -> None:
    """Create a tenant and its owner; prints the owner's API key, once."""

    async def body(c: FabricClient) -> None:
        r = await c.create_tenant(name, owner, PLANS[plan], region)
        done(s, as_dict(r),
             f"tenant {r.tenant.tenant_id} created ({plan}, region {r.tenant.region}); "
             f"owner user {r.owner_user_id}\n"
             "owner API key (shown once; keep it secret):\n"
             f"  export FABRIC_TOKEN={r.owner_api_key}")

    s.run(OPERATOR, body)


@tenant.command("set")
@TENANT_ID
@click.option("--plan", type=click.Choice(sorted(PLANS)), help="change the plan")
@click.option("--status", type=click.Choice(["active", "suspended"]),
              help="suspend (keys stop, numbers stop ringing) or resume")
@pass_session
def tenant_set(s: Session, tenant_id: str, plan: str | None, status: str | None) -> None:
    """Change a tenant's plan or state (only what is given)."""
    if plan is None and status is None:
        raise click.UsageError("nothing to change: give --plan and/or --status")

    async def body(c: FabricClient) -> None:
        t = None
        if plan is not None:
            t = await c.set_plan(tenant_id, PLANS[plan])
        if status == "suspended":
            t = await c.suspend_tenant(tenant_id)
        elif status == "active":
            t = await c.resume_tenant(tenant_id)
        assert t is not None
        done(s, as_dict(t), _tenant_line(t))

    s.run(OPERATOR, body)


@tenant.command("suspend")
@TENANT_ID
@pass_session
def tenant_suspend(s: Session, tenant_id: str) -> None:
    """Suspend a tenant (same as `tenant set ID --status suspended`)."""
    s.run(OPERATOR, lambda c: _show(s, c.suspend_tenant(tenant_id)))


@tenant.command("resume")
@TENANT_ID
@pass_session
def tenant_resume(s: Session, tenant_id: str) -> None:
    """Resume a suspended tenant (same as `tenant set ID --status active`)."""
    s.run(OPERATOR, lambda c: _show(s, c.resume_tenant(tenant_id)))


async def _show(s: Session, pending: object) -> None:
    t = await pending  # type: ignore[misc]
    done(s, as_dict(t), _tenant_line(t))


@tenant.command("delete")
@TENANT_ID
@yes_option
@pass_session
def tenant_delete(s: Session, tenant_id: str, yes: bool) -> None:
    """Close a tenant for good (alias: close): its keys are deleted and its numbers go back
    to the pool. Cannot be undone; asks unless --yes."""
    confirm(yes, f"close tenant {tenant_id} for good (keys deleted, numbers released)?")
    s.run(OPERATOR, lambda c: _show(s, c.close_tenant(tenant_id)))


@click.group(cls=Group)
def number() -> None:
    """Phone numbers: the carrier adds them to tenants from the pool; admins route them."""


@number.command("list")
@click.option("--tenant", "tenant_id", metavar="TENANT_ID",
              help="carrier: a tenant's numbers (without: your own tenant's routes)")
@pass_session
def number_list(s: Session, tenant_id: str | None) -> None:
    """Your tenant's numbers and where each rings (admin), or a tenant's numbers (carrier)."""
    if tenant_id:
        async def of_tenant(c: FabricClient) -> None:
            t = await c.get_tenant(tenant_id)
            emit(s, list(t.numbers), ["number"], [(n,) for n in t.numbers])

        s.run(OPERATOR, of_tenant)
        return

    async def body(c: FabricClient) -> None:
        routes = await c.list_numbers()
        emit(s, [as_dict(r) for r in routes], ["number", "rings"],
             [(r.number, r.extension or (f"group {r.ring_group}" if r.ring_group else "-"))
              for r in routes])

    s.run(ADMIN, body)


@number.command("get")
@click.argument("number_")
@pass_session
def number_get(s: Session, number_: str) -> None:
    """Where one of your numbers rings (admin)."""

    async def body(c: FabricClient) -> None:
        for r in await c.list_numbers():
            if r.number == number_:
                emit_fields(s, as_dict(r), [("number", r.number), ("extension", r.extension or "-"),
                                            ("ring group", r.ring_group or "-")])
                return
        raise click.ClickException(
            f"your tenant holds no number {number_} (see `fabric number list`)")

    s.run(ADMIN, body)


@number.command("add")
@TENANT_ID
@click.argument("numbers", nargs=-1)
@click.option("--count", type=click.IntRange(1, 100), default=None,
              help="how many numbers from the pool (1-100; default 1 unless NUMBERS given)")
@pass_session
def number_add(s: Session, tenant_id: str, numbers: tuple[str, ...], count: int | None) -> None:
    """Carrier (alias: allocate): give pool numbers to a tenant, exact NUMBERS or --count."""
    if numbers and count:
        raise click.UsageError("give NUMBERS or --count, not both")

    async def body(c: FabricClient) -> None:
        got = await c.allocate_numbers(tenant_id, count=0 if numbers else (count or 1),
                                       numbers=list(numbers))
        done(s, got, "\n".join(got))

    s.run(OPERATOR, body)


@number.command("set")
@click.argument("number_")
@click.option("--ext", help="ring this extension")
@click.option("--group", "group_id", help="ring this ring group")
@pass_session
def number_set(s: Session, number_: str, ext: str | None, group_id: str | None) -> None:
    """Admin (alias: route): where one of your numbers rings."""
    if bool(ext) == bool(group_id):
        raise click.UsageError("give exactly one of --ext or --group")

    async def body(c: FabricClient) -> None:
        r = await c.route_number(number_, extension=ext or "", ring_group=group_id or "")
        done(s, as_dict(r), f"{r.number} -> {r.extension or 'group ' + r.ring_group}")

    s.run(ADMIN, body)


@number.command("delete")
@TENANT_ID
@click.argument("number_")
@yes_option
@pass_session
def number_delete(s: Session, tenant_id: str, number_: str, yes: bool) -> None:
    """Carrier (alias: release): take a number from a tenant back to the pool."""
    confirm(yes, f"release {number_} from {tenant_id} back to the pool?")

    async def body(c: FabricClient) -> None:
        await c.release_number(tenant_id, number_)
        done(s, {"released": number_}, f"released {number_}")

    s.run(OPERATOR, body)
