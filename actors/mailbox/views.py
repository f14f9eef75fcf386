"""Pure functions over a mailbox's state: the API's view of a message, its ordering and pages.

Kept apart from :class:`actors.mailbox.actor.MailboxActor` (which owns the state and the
content) so the listing order and paging are read, and unit-tested, in one place.
"""

from __future__ import annotations

from actors.mailbox.audio import WAV_HEADER_BYTES
from actors.messages.v1 import mailbox_pb2 as msg_mailbox
from fabric.api.v1 import voicemail_pb2 as api_vm
from fabric.errors import InvalidArgument

DEFAULT_PAGE = 50
MAX_PAGE = 100
DEFAULT_MAX_MESSAGE_S = 180
MIN_MAX_MESSAGE_S = 10
MAX_MAX_MESSAGE_S = 600
DEFAULT_QUOTA_BYTES = 50 * 1024 * 1024
MIN_QUOTA_BYTES = 1024 * 1024
MAX_QUOTA_BYTES = 1024 * 1024 * 1024


def to_api(mailbox_id: str, m: msg_mailbox.StoredMessage) -> api_vm.VoicemailMessage:
    """A kept message as the API shows it (without its transcript's text)."""
    out = api_vm.VoicemailMessage(
        message_id=m.message_id,
        mailbox=mailbox_id,
        received_at_ms=m.received_at_ms,
        duration_ms=m.duration_ms,
        heard=m.heard,
        transcript_status=m.transcript_status,
        transcript_reason=m.transcript_reason,
        size_bytes=m.audio_bytes + WAV_HEADER_BYTES,
        ended_by=m.ended_by,
        call_id=m.call_id,
    )
    setattr(out, "from", getattr(m, "from"))
    return out


def ordered(
    messages: list[msg_mailbox.StoredMessage], unheard_only: bool
) -> list[msg_mailbox.StoredMessage]:
    """Unheard first, then heard; newest first within each (ties by message id)."""
    chosen = [m for m in messages if not (unheard_only and m.heard)]
    return sorted(chosen, key=lambda m: (m.heard, -m.received_at_ms, m.message_id))


def page_bounds(req: api_vm.ListVoicemailRequest, total: int) -> tuple[int, int, str]:
    """(start, end, next token) of the page ``req`` asks for among ``total`` messages."""
    if req.page_size > MAX_PAGE:
        raise InvalidArgument(
            f"page_size must be 0 to {MAX_PAGE}", error_id="invalid-page",
            details={"field": "page_size"},
        )
    size = req.page_size or DEFAULT_PAGE
    start = 0
    if req.page_token:
        token = req.page_token
        if not (token.startswith("o") and token[1:].isdigit() and len(token) < 12):
            raise InvalidArgument(
                "page_token must be the next_page_token of the previous page",
                error_id="invalid-page-token", details={"field": "page_token"},
            )
        start = int(token[1:])
    end = min(total, start + size)
    return start, end, (f"o{end}" if end < total else "")


def settings_of(
    state: msg_mailbox.MailboxState, greeting: api_vm.MailboxGreeting
) -> api_vm.MailboxSettings:
    """The mailbox's settings and usage."""
    return api_vm.MailboxSettings(
        mailbox=state.mailbox_id,
        max_message_s=max_message_s(state),
        quota_bytes=quota_bytes(state),
        used_bytes=used_bytes(state),
        message_count=len(state.messages),
        greeting=greeting,
    )


def max_message_s(state: msg_mailbox.MailboxState) -> int:
    """The longest message the mailbox records (its setting, or the default)."""
    return state.max_message_s or DEFAULT_MAX_MESSAGE_S


def quota_bytes(state: msg_mailbox.MailboxState) -> int:
    """The most audio the mailbox keeps (its setting, or the default)."""
    return state.quota_bytes or DEFAULT_QUOTA_BYTES


def used_bytes(state: msg_mailbox.MailboxState) -> int:
    """Audio kept now (messages; the greeting is not counted)."""
    return sum(m.audio_bytes for m in state.messages)


def check_settings(req: api_vm.SetMailboxSettingsRequest) -> None:
    """Refuse out-of-range settings, naming the field."""
    if req.max_message_s and not MIN_MAX_MESSAGE_S <= req.max_message_s <= MAX_MAX_MESSAGE_S:
        raise InvalidArgument(
            f"max_message_s must be {MIN_MAX_MESSAGE_S} to {MAX_MAX_MESSAGE_S} seconds",
            error_id="invalid-max-message", details={"field": "max_message_s"},
        )
    if req.quota_bytes and not MIN_QUOTA_BYTES <= req.quota_bytes <= MAX_QUOTA_BYTES:
        raise InvalidArgument(
            f"quota_bytes must be {MIN_QUOTA_BYTES} to {MAX_QUOTA_BYTES} bytes (1 MB to 1 GB)",
            error_id="invalid-quota", details={"field": "quota_bytes"},
        )
