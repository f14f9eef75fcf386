"""``start_api``: the gRPC API as a gateway service inside the fabric.

The runtime calls ``start_api(system, settings, stores)`` in each gateway host process
(``stores``: the process's one set, owned and closed by the process); it serves
the four public services (CarrierAdmin, TenantAdmin, Calls, Records) plus health and
reflection, with TLS on by default, on ``api.host:api.port`` (gateways of one machine share
the port through SO_REUSEPORT).
"""

from __future__ import annotations

import logging
from typing import Any

from actors.api import accountability as acct
from actors.api.calls import CallsServicer
from actors.api.carrier import CarrierServicer
from actors.api.messaging import MessagingServicer
from actors.api.principals import KeyVerifier
from actors.api.privacy import privacy_servicer
from actors.api.recordings import RecordingsServicer
from actors.api.records import RecordsServicer
from actors.api.roles import ROLES, bootstrap_only
from actors.api.tenant_admin import TenantAdminServicer
from actors.api.voicemail import VoicemailServicer
from fabric.actor import ActorSystem
from fabric.api.v1 import (
    calls_pb2,
    calls_pb2_grpc,
    carrier_pb2,
    carrier_pb2_grpc,
    messaging_pb2,
    messaging_pb2_grpc,
    privacy_pb2,
    privacy_pb2_grpc,
    recordings_pb2,
    recordings_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    tenant_pb2,
    tenant_pb2_grpc,
    voicemail_pb2,
    voicemail_pb2_grpc,
)
from fabric.clock import SystemClock
from fabric.config import FabricSettings
from fabric.edge.auth import Authorizer
from fabric.edge.credentials import load_or_create_operator_token
from fabric.edge.interceptor import EdgeInterceptor
from fabric.edge.limits import FailedCredentials, RateLimiter
from fabric.edge.metrics import EdgeMetrics
from fabric.edge.server import EdgeServer, start_server
from fabric.edge.tls import SERVER_CERT
from fabric.storage.base import CdrStore
from fabric.storage.factory import Stores

log = logging.getLogger(__name__)

SERVICE_NAMES = [
    carrier_pb2.DESCRIPTOR.services_by_name["CarrierAdmin"].full_name,
    tenant_pb2.DESCRIPTOR.services_by_name["TenantAdmin"].full_name,
    calls_pb2.DESCRIPTOR.services_by_name["Calls"].full_name,
    records_pb2.DESCRIPTOR.services_by_name["Records"].full_name,
    messaging_pb2.DESCRIPTOR.services_by_name["Messaging"].full_name,
    privacy_pb2.DESCRIPTOR.services_by_name["Privacy"].full_name,
    voicemail_pb2.DESCRIPTOR.services_by_name["Voicemail"].full_name,
    recordings_pb2.DESCRIPTOR.services_by_name["Recordings"].full_name,
    *acct.SERVICE_NAMES,  # Audit, Operators, Compliance (issue 14)
]


DIAL = f"/{SERVICE_NAMES[2]}/Dial"

RUNNING: list[ApiGateway] = []
"""The gateways running in this process (for the metrics gatherer)."""


class ApiGateway:
    """The running API of one gateway process."""

    def __init__(self, server: EdgeServer, store: CdrStore, metrics: EdgeMetrics) -> None:
        self.server = server
        self.store = store
        self.metrics = metrics

    @property
    def port(self) -> int:
        """The bound gRPC port."""
        return self.server.port

    def metrics_text(self) -> str:
        """This gateway's gRPC request metrics (Prometheus text)."""
        return self.metrics.text()

    async def stop(self) -> None:
        """Drain and stop the server (the CDR store is the process's: it closes it)."""
        if self in RUNNING:
            RUNNING.remove(self)
        await self.server.stop()


async def start_api(
    system: ActorSystem,
    settings: FabricSettings,
    stores: Stores,
    *,
    metrics: EdgeMetrics | None = None,
) -> ApiGateway:
    """Start the gRPC API in this process, reading CDRs from ``stores.cdr``."""
    store = stores.cdr
    metrics = metrics or EdgeMetrics()
    api = settings.api
    clock = SystemClock()
    accountability = acct.accountability(system, stores)
    authorizer = Authorizer(
        load_or_create_operator_token(api.operator_token_file),
        KeyVerifier(system, operators=accountability.operators),
        bootstrap_only(ROLES) if api.operator_token_bootstrap_only else ROLES,
        cache_ttl_s=api.key_cache_s,
        clock=clock,
        failed=FailedCredentials(
            clock,
            ttl_s=api.failed_key_cache_s,
            free_failures=api.auth_failures_free,
            max_backoff_s=api.auth_backoff_max_s,
        ),
    )
    interceptor = EdgeInterceptor(
        authorizer,
        metrics,
        rates={DIAL: RateLimiter(api.dials_per_s_per_key, api.dial_burst, clock)},
        recheck_s=api.stream_recheck_s,
        audit=accountability.recorder,
    )
    registrars: list[Any] = [
        lambda s: carrier_pb2_grpc.add_CarrierAdminServicer_to_server(CarrierServicer(
            system, regions=stores.regions), s),
        lambda s: tenant_pb2_grpc.add_TenantAdminServicer_to_server(TenantAdminServicer(system), s),
        lambda s: calls_pb2_grpc.add_CallsServicer_to_server(
            CallsServicer(system, settings.calls, actors=stores.actors), s
        ),
        lambda s: records_pb2_grpc.add_RecordsServicer_to_server(
            RecordsServicer(store, system=system), s
        ),
        lambda s: messaging_pb2_grpc.add_MessagingServicer_to_server(
            MessagingServicer(system, settings.api, vault=stores.vault), s
        ),
        lambda s: privacy_pb2_grpc.add_PrivacyServicer_to_server(
            privacy_servicer(system, stores), s
        ),
        lambda s: voicemail_pb2_grpc.add_VoicemailServicer_to_server(
            VoicemailServicer(system, stores.content), s
        ),
        lambda s: recordings_pb2_grpc.add_RecordingsServicer_to_server(
            RecordingsServicer(system, stores.content), s
        ),
        *accountability.registrars,
    ]
    server = await start_server(settings.api, interceptor, registrars, SERVICE_NAMES)
    log.info("gRPC API on %s:%d (tls=%s)", settings.api.host, server.port, settings.api.tls)
    if settings.api.tls:
        metrics.observe_certificate((settings.api.tls_dir / SERVER_CERT).read_bytes())
    gateway = ApiGateway(server, store, metrics)
    RUNNING.append(gateway)
    return gateway
