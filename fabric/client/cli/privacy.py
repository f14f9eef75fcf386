"""``fabric privacy``: the privacy policy's rights and retention (owners and admins; the
operator exports a closed tenant with ``--tenant``).

A SUBJECT is a user id of your tenant (``fabric user list``) or an outside number (E.164).
Every command is tracked as a request with the policy's 30-day clock (``fabric privacy
requests``); ``--request ID`` answers a request logged earlier with ``request-open``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from fabric.api.v1 import privacy_pb2 as api_privacy
from fabric.client.client import FabricClient
from fabric.client.privacy import PrivacyClient

from .base import Group, pass_session
from .output import as_dict, emit, emit_fields, enum, when
from .session import ADMIN, OPERATOR, Session, fail

KINDS = {"export": api_privacy.REQUEST_EXPORT, "erase": api_privacy.REQUEST_ERASE,
         "correct": api_privacy.REQUEST_CORRECT, "restrict": api_privacy.REQUEST_RESTRICT}


def _subject(value: str) -> str:
    if not value or not (value.startswith("+") or value[0].isalnum()):
        fail(f"SUBJECT {value!r} must be a user id or an E.164 number such as +15550100001", 2)
    return value


@click.group(cls=Group)
def privacy() -> None:
    """Export, erase, correct and restrict personal data; requests and retention."""


@privacy.command("export")
@click.argument("subject", required=False, default="")
@click.option("-f", "--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="the zip to write (an interrupted FILE.part resumes)")
@click.option("--tenant", default="", help="operator only: a closed tenant's id")
@pass_session
def privacy_export(s: Session, subject: str, path: Path, tenant: str) -> None:
    """Export the whole tenant, or SUBJECT's data, as a zip (manifest.json inside)."""
    if subject:
        _subject(subject)

    def progress(p: api_privacy.ExportProgress) -> None:
        total = f"/{p.items_total}" if p.items_total else ""
        click.echo(f"\r{p.phase}: {p.items_done}{total}, {p.bytes_sent / 1e6:.1f} MB   ",
                   nl=False, err=True)

    async def run(c: FabricClient) -> None:
        summary = await PrivacyClient(c).export_to_file(path, subject, tenant_id=tenant,
                                                        on_progress=progress)
        click.echo("", err=True)
        emit_fields(s, as_dict(summary), [
            ("file", str(path)), ("bytes", summary.total_bytes), ("sha256", summary.zip_sha256),
            ("files", summary.files),
            ("counts", ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()))),
            (f"as of ({s.tz})", when(summary.as_of_ms, s.tz)),
        ])

    s.run(OPERATOR if tenant else ADMIN, run)


@privacy.command("erase")
@click.argument("subject", required=False, default="")
@click.option("--object", "obj", metavar="CLASS:ID",
              help="one object instead, e.g. voicemail:vm-101-abc (classes: voicemail, "
                   "recording, transcript, sms-body)")
@click.option("--request", "request_id", default="", help="the open request this answers")
@click.option("--yes", is_flag=True, help="do not ask")
@pass_session
def privacy_erase(s: Session, subject: str, obj: str | None, request_id: str, yes: bool) -> None:
    """Erase SUBJECT's voicemail, recordings, transcripts and SMS (and a user's account
    data), or one object. CDRs and message records are kept 7 years: the answer counts them."""
    if bool(subject) == bool(obj):
        fail("give a SUBJECT or --object CLASS:ID (one of them)", 2)
    data_class, _, object_id = (obj or "").partition(":")
    if obj and not object_id:
        fail(f"--object {obj!r} must be CLASS:ID", 2)
    if subject:
        _subject(subject)
    if not yes and not click.confirm(f"erase {subject or obj}? this cannot be undone",
                                     err=True):
        sys.exit(1)

    async def run(c: FabricClient) -> None:
        a = await PrivacyClient(c).erase(subject, data_class, object_id, request_id)
        kept = "; ".join(f"{k.data_class} {k.count} kept: {k.reason}" for k in a.kept)
        emit_fields(s, as_dict(a), [
            ("request", a.request_id),
            ("deleted", ", ".join(f"{k} {v}" for k, v in sorted(a.deleted.items())) or "none"),
            (f"keys destroyed ({s.tz})", when(a.keys_destroyed_at_ms, s.tz)),
            ("kept", kept or "-"), ("account", a.account or "-"),
        ])

    s.run(ADMIN, run)


@privacy.command("correct")
@click.option("--user", "user_id", help="the user to correct")
@click.option("--name", help="the user's new name")
@click.option("--email", help="the user's e-mail ('' clears it)")
@click.option("--phone", help="the user's contact number, E.164 ('' clears it)")
@click.option("--ext", "extension", help="the extension whose label to correct")
@click.option("--label", help="the extension's new label ('' clears it)")
@click.option("--request", "request_id", default="", help="the open request this answers")
@pass_session
def privacy_correct(s: Session, user_id: str | None, name: str | None, email: str | None,
                    phone: str | None, extension: str | None, label: str | None,
                    request_id: str) -> None:
    """Correct a user's name and contact fields (--user) or an extension's label (--ext)."""
    req = api_privacy.CorrectRequest(request_id=request_id)
    if user_id and not extension:
        if name is None and email is None and phone is None:
            fail("give --name, --email or --phone", 2)
        req.user.user_id = user_id
        for field, value in (("name", name), ("email", email), ("phone", phone)):
            if value is not None:
                setattr(req.user, field, value)
    elif extension and not user_id and label is not None:
        req.extension.CopyFrom(api_privacy.CorrectExtension(extension=extension, label=label))
    else:
        fail("give --user U with --name/--email/--phone, or --ext E with --label", 2)

    async def run(c: FabricClient) -> None:
        a = await PrivacyClient(c).correct(req)
        which = a.WhichOneof("result")
        emit_fields(s, as_dict(a), [("request", a.request_id)] + (
            [("user", a.user.user_id), ("name", a.user.name), ("email", a.user.email or "-"),
             ("phone", a.user.phone or "-")] if which == "user" else
            [("extension", a.extension.extension), ("label", a.extension.label or "-")]))

    s.run(ADMIN, run)


@privacy.command("restrict")
@click.argument("subject")
@click.option("--lift", is_flag=True, help="lift the restriction instead")
@click.option("--request", "request_id", default="", help="the open request this answers")
@pass_session
def privacy_restrict(s: Session, subject: str, lift: bool, request_id: str) -> None:
    """Restrict SUBJECT: no new recording, transcription or SMS processing (--lift ends it)."""
    _subject(subject)

    async def run(c: FabricClient) -> None:
        a = await PrivacyClient(c).restrict(subject, not lift, request_id)
        emit_fields(s, as_dict(a), [("subject", a.restriction.subject),
                                    ("restricted", "yes" if a.restriction.restricted else "no"),
                                    ("request", a.request_id)])

    s.run(ADMIN, run)


@privacy.command("restrictions")
@pass_session
def privacy_restrictions(s: Session) -> None:
    """Every subject ever restricted, and whether it still is."""

    async def run(c: FabricClient) -> None:
        r = await PrivacyClient(c).restrictions()
        emit(s, [as_dict(x) for x in r.restrictions], ["subject", "restricted", f"since ({s.tz})",
                                                       "by"],
             [(x.subject, "yes" if x.restricted else "no", when(x.since_ms, s.tz), x.set_by)
              for x in r.restrictions])

    s.run(ADMIN, run)


@privacy.command("requests")
@click.option("--open", "open_only", is_flag=True, help="only the open ones")
@click.option("--tenant", default="", help="operator only: a closed tenant's id")
@pass_session
def privacy_requests(s: Session, open_only: bool, tenant: str) -> None:
    """Tracked requests, newest first, with their 30-day deadline."""

    async def run(c: FabricClient) -> None:
        r = await PrivacyClient(c).requests(open_only, tenant)
        emit(s, [as_dict(x) for x in r.requests],
             ["request", "kind", "subject", f"received ({s.tz})", "deadline", "status", "outcome"],
             [(x.request_id, enum(api_privacy.RequestKind.Name(x.kind), "REQUEST_"),
               x.subject or "(tenant)", when(x.received_at_ms, s.tz),
               when(x.deadline_ms, s.tz), enum(api_privacy.RequestStatus.Name(x.status),
                                               "REQUEST_"), x.outcome[:60])
              for x in r.requests])

    s.run(OPERATOR if tenant else ADMIN, run)


@privacy.command("request-open")
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("subject", required=False, default="")
@click.option("--received", type=click.DateTime(), help="when it was received (UTC; default now)")
@click.option("--note", default="", help="a short note (at most 200 characters)")
@pass_session
def privacy_request_open(s: Session, kind: str, subject: str, received: datetime | None,
                         note: str) -> None:
    """Log a request received by e-mail or letter: its 30-day clock starts at --received."""
    ms = int(received.timestamp() * 1000) if received else 0

    async def run(c: FabricClient) -> None:
        r = await PrivacyClient(c).open_request(api_privacy.OpenRequestRequest(
            kind=KINDS[kind], subject=subject, received_at_ms=ms, note=note))
        emit_fields(s, as_dict(r), [("request", r.request_id),
                                    (f"deadline ({s.tz})", when(r.deadline_ms, s.tz))])

    s.run(ADMIN, run)


@privacy.command("request-withdraw")
@click.argument("request_id")
@click.option("--reason", required=True, help="why (kept as the outcome)")
@pass_session
def privacy_request_withdraw(s: Session, request_id: str, reason: str) -> None:
    """Close an open request without acting on it (withdrawn or refused)."""

    async def run(c: FabricClient) -> None:
        r = await PrivacyClient(c).withdraw(request_id, reason)
        emit_fields(s, as_dict(r), [("request", r.request_id), ("outcome", r.outcome)])

    s.run(ADMIN, run)


@privacy.command("retention")
@click.option("--voicemail-days", type=click.IntRange(0, 36500), help="0 = until deleted")
@click.option("--recording-days", type=click.IntRange(0, 36500), help="0 = until deleted")
@click.option("--sms-days", type=click.IntRange(0, 36500), help="0 = until deleted")
@click.option("--account-days", type=int, help="account data after closure, 0-90")
@click.option("--tenant", default="", help="operator only: a closed tenant's id (read)")
@pass_session
def privacy_retention(s: Session, voicemail_days: int | None, recording_days: int | None,
                      sms_days: int | None, account_days: int | None, tenant: str) -> None:
    """Show the retention periods, or shorten them with the options (never lengthen)."""
    change = api_privacy.RetentionPolicy()
    for field, value in (("voicemail_days", voicemail_days), ("recording_days", recording_days),
                         ("sms_days", sms_days), ("account_after_closure_days", account_days)):
        if value is not None:
            setattr(change, field, value)

    async def run(c: FabricClient) -> None:
        client = PrivacyClient(c)
        changing = any(v is not None for v in (voicemail_days, recording_days, sms_days,
                                                 account_days))
        r = await (client.set_retention(change) if changing else client.retention(tenant))

        def days(field: str) -> str:
            return f"{getattr(r, field)} days" if r.HasField(field) else "until deleted"  # type: ignore[arg-type]

        emit_fields(s, as_dict(r), [
            ("voicemail", days("voicemail_days")), ("recordings", days("recording_days")),
            ("sms", days("sms_days")),
            ("account after closure", f"{r.account_after_closure_days} days"),
            ("cdrs and message records", f"{r.cdr_days} days (regulatory)"),
            ("deleted content in backups", f"{r.backup_days} days"),
        ])

    s.run(OPERATOR if tenant else ADMIN, run)
