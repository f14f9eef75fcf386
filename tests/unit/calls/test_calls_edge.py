"""The edge without sockets: credentials, role table, error mapping, TLS material, CLI."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from actors.api.roles import ROLES
from fabric.edge.auth import Authorizer, Principal, Role
from fabric.edge.credentials import (
    ApiKeyParts,
    load_or_create_operator_token,
    new_api_key,
    parse_api_key,
)
from fabric.edge.status import error_from_status
from fabric.edge.tls import ensure_dev_pki
from fabric.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    to_grpc_status,
)


def _all_methods() -> list[str]:
    """Every method of every service the API serves (actors.api.server.SERVICE_NAMES)."""
    from google.protobuf import descriptor_pool

    from actors.api.server import SERVICE_NAMES

    pool = descriptor_pool.Default()
    return [f"/{name}/{m.name}" for name in SERVICE_NAMES
            for m in pool.FindServiceByName(name).methods]


def test_every_rpc_is_in_the_role_table() -> None:
    methods = _all_methods()
    assert len(methods) >= 30
    assert sorted(methods) == sorted(ROLES)
    staff = {Role.OPERATOR, Role.CARRIER_ADMIN, Role.SUPPORT, Role.BILLING}
    for method, roles in ROLES.items():
        if "CarrierAdmin" in method or "Operators" in method:
            assert roles <= staff and Role.OPERATOR in roles
        elif method not in ("/fabric.api.v1.Compliance/GetCompliance",
                            "/fabric.api.v1.Billing/QueryUsage"):
            assert not roles & {Role.SUPPORT, Role.BILLING}  # metadata only, never content


def test_api_keys_round_trip_and_reject_garbage() -> None:
    key_id, key, digest = new_api_key("t-abc123")
    parts = parse_api_key(key)
    assert parts == ApiKeyParts("t-abc123", key_id, digest)
    for bad in ("", "fk_", key + "x", key.replace("fk_", "fx_"), "Bearer " + key, "fk_T.x.y"):
        with pytest.raises(Unauthenticated):
            parse_api_key(bad)


def test_operator_token_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "run" / "operator.token"
    token = load_or_create_operator_token(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_operator_token(path) == token


class _Verifier:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, parts: ApiKeyParts) -> Principal:
        self.calls += 1
        if parts.tenant_id != "t-good":
            raise Unauthenticated("bad key", error_id="bad-credentials")
        return Principal(Role.MEMBER, "t-good", "u-1")


async def test_authorizer_checks_credentials_then_roles() -> None:
    verifier = _Verifier()
    auth = Authorizer("fo_secret", verifier, ROLES, cache_ttl_s=60)
    dial = "/fabric.api.v1.Calls/Dial"
    create = "/fabric.api.v1.CarrierAdmin/CreateTenant"
    with pytest.raises(Unauthenticated):
        await auth.authorize(dial, {})
    with pytest.raises(Unauthenticated):
        await auth.authorize(dial, {"authorization": "Basic abc"})
    assert (
        await auth.authorize(create, {"authorization": "Bearer fo_secret"})
    ).role is Role.OPERATOR
    with pytest.raises(PermissionDenied):
        await auth.authorize(dial, {"authorization": "Bearer fo_secret"})
    _, good, _ = new_api_key("t-good")
    who = await auth.authorize(dial, {"authorization": f"Bearer {good}"})
    assert who == Principal(Role.MEMBER, "t-good", "u-1")
    await auth.authorize(dial, {"authorization": f"Bearer {good}"})
    assert verifier.calls == 1  # cached
    with pytest.raises(PermissionDenied) as denied:
        await auth.authorize(
            "/fabric.api.v1.Calls/ListActiveCalls", {"authorization": f"Bearer {good}"}
        )
    assert denied.value.details["required_roles"] == "owner, admin"
    with pytest.raises(PermissionDenied):  # methods not in the table are closed
        await auth.authorize("/fabric.api.v1.Calls/Nope", {"authorization": f"Bearer {good}"})
    _, other, _ = new_api_key("t-other")
    with pytest.raises(Unauthenticated):
        await auth.authorize(dial, {"authorization": f"Bearer {other}"})


@pytest.mark.parametrize(
    "error",
    [
        InvalidArgument("fix x", error_id="invalid-extension"),
        NotFound("no such call", error_id="call-not-found"),
        Unavailable("no trunk", error_id="no-carrier-trunk"),
    ],
)
def test_status_mapping_round_trips(error: Exception) -> None:
    code, details = to_grpc_status(error)  # type: ignore[arg-type]
    back = error_from_status(code, details)
    assert type(back) is type(error)
    assert back.error_id == error.error_id  # type: ignore[attr-defined]
    assert back.message == error.message  # type: ignore[attr-defined]
    assert type(error_from_status(grpc.StatusCode.UNKNOWN, "boom")).__name__ == "Internal"


def test_dev_pki_is_made_once_with_private_keys(tmp_path: Path) -> None:
    first = ensure_dev_pki(tmp_path / "tls", ["0.0.0.0", "fabric.local"])
    again = ensure_dev_pki(tmp_path / "tls")
    assert first.server_cert == again.server_cert
    assert stat.S_IMODE((tmp_path / "tls" / "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls" / "ca.key").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(first.server_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "fabric.local" in san.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate(first.ca_cert)
    assert cert.issuer == ca.subject
    ca.public_key().verify(  # type: ignore[union-attr,call-arg]
        cert.signature,
        cert.tbs_certificate_bytes,
        __import__("cryptography.hazmat.primitives.asymmetric.ec", fromlist=["ECDSA"]).ECDSA(
            cert.signature_hash_algorithm
        ),
    )
