"""Mailboxes: the MailboxActor (``actors.mailbox:MailboxActor``, kind ``mailbox``, key
``<tenant id>/<mailbox id>``), its views, audio formats, MESSAGE_WAITING notices and metrics.

See :mod:`actors.mailbox.actor` for what a mailbox keeps and who talks to it.
"""

from actors.mailbox.actor import KIND, MailboxActor, mailbox_address, message_object_id

__all__ = ["KIND", "MailboxActor", "mailbox_address", "message_object_id"]
