"""Service factories and the names the runtime imports: what each host process gives its
actors through ``ctx.service``, and the actor types / gateway services of the fabric.

``make_services(settings, stores)`` runs once per actor host process (the runtime imports
it by its "module:attr" name) with the one set of stores that process opened
(``fabric.storage.factory.Stores``): the actors get its CDR store and the call metrics.
Gateway processes make no actor services; their gateway services get the same process
stores (the API's Records service reads that CDR store).

Media: the driver starts the relays (``fabric.media.relay_actor.start_media``, one per
node) *before* the actor system, so every host finds them by name at start and registers the
``CallMedia`` service (``RelayCallMedia``); the gateway service
``actors.media_watch:start_media_watch`` ends calls whose media went silent. With no
relays running, no ``CallMedia`` is registered and CallActors run signalling-only (see
``actors.call_media``), which is what unit tests and media-less deployments get.
"""

from __future__ import annotations

from actors.call_media import CallMedia
from actors.call_metrics import CallMetrics
from actors.compliance.records import ComplianceRecords
from actors.sms.keys import ConversationKeys, VaultConversationKeys
from actors.transcription.pool import make_transcription_services
from fabric.config import CallSettings, FabricSettings, LimitsSettings
from fabric.storage.base import CdrStore
from fabric.storage.factory import Stores
from fabric.storage.mdr import MdrStore
from fabric.storage.residency import TenantRegions
from fabric.vault.content import ContentStore
from fabric.vault.vault import Vault

ACTOR_TYPES = [
    "actors.tenant:TenantActor",
    "actors.call:CallActor",
    "actors.number:NumberDirectory",
    "actors.call_index:ActiveCallIndex",
    "actors.mailbox:MailboxActor",
    "actors.sms:ConversationActor",
    "actors.sms:SmsTenantActor",
    "actors.privacy:PrivacyActor",
    "actors.privacy:PrivacyIndex",
    "actors.recording_index:RecordingIndex",
    "actors.recording_index:RecordingSettingsActor",
]
SERVICES = ["actors.wiring:make_services"]
GATEWAY_SERVICES = [
    "actors.api.server:start_api",
    "actors.media_watch:start_media_watch",
    "actors.transcription.pool:start_transcription",  # the pool + its result delivery
]


def make_call_media() -> CallMedia | None:
    """The relays as the call actor's ``CallMedia``, or None when no relay runs."""
    import ray

    from fabric.media.relay_actor import MediaControl, RelayCallMedia

    if not ray.is_initialized():
        return None
    control = MediaControl.discover()
    return RelayCallMedia(control) if control is not None else None


def make_services(settings: FabricSettings, stores: Stores) -> dict[type, object]:
    """Services of one actor host process: its CDR store, the call metrics, the call
    timers (``calls`` settings) and (when relays run) the call media."""
    services: dict[type, object] = {
        CdrStore: stores.cdr,
        CallMetrics: CallMetrics(),
        CallSettings: settings.calls,
        LimitsSettings: settings.limits,
        ComplianceRecords: ComplianceRecords(stores.state),  # the HIPAA gate reads it
    }
    if stores.content is not None:  # SMS bodies (and other sealed content)
        services[ContentStore] = stores.content
    if stores.mdr is not None:  # SMS message detail records
        services[MdrStore] = stores.mdr
    if stores.vault is not None:  # SMS conversation keys that name no number
        services[ConversationKeys] = VaultConversationKeys(stores.vault)
    if stores.vault is not None:  # the privacy purge destroys a closed tenant's key
        services[Vault] = stores.vault
    if stores.regions is not None:  # residency: CreateTenant records the tenant's region
        services[TenantRegions] = stores.regions
    media = make_call_media()
    if media is not None:
        services[CallMedia] = media
    services.update(make_transcription_services(settings))  # TranscriptionService (Ray)
    return services
