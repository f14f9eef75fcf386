"""Privacy operations: the rights the privacy policy grants and the retention it promises.

- :mod:`actors.privacy.actor`: the PrivacyActor (per tenant): tracked requests with the
  30-day clock, restriction flags, the tenant's retention and the durable retention reminders.
- :mod:`actors.privacy.index`: the open requests of every tenant, for the metrics.
- :mod:`actors.privacy.restrictions`: ``is_restricted``, called before recording,
  transcription and SMS processing.
- :mod:`actors.privacy.export`, :mod:`actors.privacy.erasure`: the work, where the data is
  read (the API gateway); :mod:`actors.privacy.service` ties them to the request log.
- :mod:`actors.privacy.policy`: the policy's periods and the checks of a tenant's own.
"""

from actors.privacy.actor import PrivacyActor
from actors.privacy.index import PrivacyIndex
from actors.privacy.restrictions import is_restricted, privacy_address, restricted_or_closed

__all__ = [
    "PrivacyActor",
    "PrivacyIndex",
    "is_restricted",
    "privacy_address",
    "restricted_or_closed",
]
