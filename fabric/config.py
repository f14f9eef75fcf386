"""Typed settings for every part of the fabric.

Loaded from environment variables (``FABRIC_`` prefix, ``__`` between nested names, e.g.
``FABRIC_STORAGE__BACKEND=cassandra``) and optionally a TOML file (``config.sample.toml``
documents every setting). Precedence, lowest first: defaults, the file, the environment
(pydantic-settings' own TOML source, so a container can override one setting of a mounted
file). Each section belongs to one part of the fabric; a bad value fails with an error that
names the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class StorageSettings(BaseModel):
    """Where CDRs, actor state and reminders are kept."""

    backend: Literal["embedded", "cassandra"] = Field(
        "embedded", description="embedded = SQLite files under data_dir (no JVM); cassandra"
    )
    data_dir: Path = Field(Path(".run/data"), description="folder of the embedded store")
    cassandra_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"], description="contact points"
    )
    cassandra_port: int = Field(9042, description="CQL native port")
    cassandra_username: str = Field("", description="'' = no authentication; else the role name")
    cassandra_password_file: str = Field(
        "", description="file holding the role's password (a mounted Secret); never logged"
    )
    cassandra_ca_file: str = Field(
        "",
        description="'' = plaintext CQL; else TLS to every node, verified (chain and "
        "address) against this CA file",
    )
    keyspace: str = Field("callfabric", description="keyspace holding every table")
    replication_factor: int = Field(1, ge=1, description="1 locally, 3 in production")
    datacenter: str = Field("datacenter1", description="local DC for NetworkTopologyStrategy")
    consistency: Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL"] = Field(
        "LOCAL_QUORUM", description="consistency of reads and writes"
    )
    spool_dir: Path = Field(
        Path(".run/spool"), description="durable local spool for CDRs while Cassandra is down"
    )
    regions: list[str] = Field(
        default_factory=list,
        description="residency (Cassandra only): [] = one keyspace for all; else e.g. "
        "[\"us\", \"eu\"]: each tenant's CDRs, messages, audit log, content and vault keys "
        "go to keyspace '<keyspace>_<region>', replicated only in the data centre named "
        "<region>; the first listed is the default region",
    )


class RuntimeSettings(BaseModel):
    """The virtual actor runtime on Ray."""

    ray_address: str = Field("", description="'' starts a local Ray; else the head address")
    hosts_per_node: int = Field(2, ge=1, description="actor host processes per Ray node")
    mailbox_capacity: int = Field(1000, ge=1, description="messages queued per actor")
    idle_passivation_s: float = Field(300.0, gt=0, description="idle time before passivation")
    ask_timeout_s: float = Field(5.0, gt=0, description="default deadline of an ask")
    max_restarts: int = Field(10, ge=0, description="supervision restarts allowed per window")
    restart_window_s: float = Field(10.0, gt=0, description="window of max_restarts")
    reminder_poll_s: float = Field(1.0, gt=0, description="how often hosts scan for due reminders")
    sweep_interval_s: float = Field(
        30.0, gt=0, description="how often hosts look for idle activations to passivate"
    )
    gateway_per_node: bool = Field(
        True, description="one gateway host per node (gateway services, endpoints, no actors)"
    )
    host_max_restarts: int = Field(
        -1, ge=-1, description="Ray restarts of a dead host process (-1 = unlimited)"
    )
    membership_check_s: float = Field(
        1.0, gt=0, description="how often the registry pings hosts to detect dead ones"
    )
    ray_auth_token_file: Path = Field(
        Path(".run/ray/auth_token"),
        description="Ray's cluster token (RAY_AUTH_MODE=token): every Ray process and driver "
        "must present it; made on first run (mode 0600), or mount the secret here",
    )
    ray_tls: bool = Field(
        False,
        description="mutual TLS between Ray processes, certificates from ray_tls_dir's CA "
        "(on in production values; off by default: a local cluster stays on loopback)",
    )
    ray_tls_dir: Path = Field(
        Path(".run/tls"), description="CA (ca.pem) and the Ray node certificate (ray.pem/.key)"
    )


class ApiSettings(BaseModel):
    """The gRPC API edge."""

    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50051, ge=1, le=65535, description="gRPC port")
    tls: bool = Field(True, description="serve TLS (a development CA is made on first run)")
    tls_dir: Path = Field(Path(".run/tls"), description="CA, server certificate and key")
    operator_token_file: Path = Field(
        Path(".run/operator.token"),
        description="the carrier operator's bearer token (made on first run, mode 0600)",
    )
    operator_token_bootstrap_only: bool = Field(
        True,
        description="the operator token may only manage named operators (fabric operator "
        "...); every other carrier action needs a named carrier-admin's key (make up makes "
        "one for the local user). false = opt-out for old scripts that use the token for "
        "tenant work (their actions are then tied to no person)",
    )
    key_cache_s: float = Field(
        5.0, ge=0, description="how long a verified API key is trusted before re-checking"
    )
    max_concurrent_streams: int = Field(
        100, ge=1, description="RPCs one client connection may have open at once (HTTP/2)"
    )
    stream_recheck_s: float = Field(
        2.0,
        gt=0,
        description="how often a Register stream's credentials are checked again; a revoked "
        "key, deleted user or suspended tenant ends it within key_cache_s + this",
    )
    dials_per_s_per_key: float = Field(
        5.0, gt=0, description="Dial calls per second one API key may make (sustained)"
    )
    dial_burst: int = Field(10, ge=1, description="Dial calls one API key may make at once")
    sms_per_s_per_tenant: float = Field(
        20.0, gt=0, description="SMS one tenant may send per second, per gateway process "
        "(RESOURCE_EXHAUSTED rate-limited-sms over it)"
    )
    sms_burst: int = Field(40, ge=1, description="SMS one tenant may send at once")
    failed_key_cache_s: float = Field(
        30.0, ge=0, description="how long a key refused as invalid is refused from memory"
    )
    auth_failures_free: int = Field(
        5, ge=0, description="failed credentials an address may present before backoff"
    )
    auth_backoff_max_s: float = Field(
        60.0,
        gt=0,
        description="longest backoff of an address presenting bad credentials (it starts at "
        "0.5 s and doubles per failure)",
    )


class MetricsSettings(BaseModel):
    """The Prometheus endpoint."""

    host: str = Field(
        "127.0.0.1", description="address the /metrics endpoint binds (0.0.0.0 in a pod)"
    )
    port: int = Field(9464, ge=0, le=65535, description="0 disables the HTTP endpoint")


class MediaSettings(BaseModel):
    """The SRTP relay."""

    bind_host: str = Field("127.0.0.1", description="address media relays bind")
    public_host: str = Field(
        "",
        description="address the relays advertise to clients in media answers (a node's "
        "public IP behind NAT); '$NAME' = environment variable NAME of each relay's process "
        "(per-node addresses); '' = bind_host",
    )
    port_min: int = Field(20000, ge=1024, le=65535, description="first UDP port")
    port_max: int = Field(29999, ge=1024, le=65535, description="last UDP port")
    relays_per_node: int = Field(
        0,
        ge=0,
        description="media relay processes per Ray node; 0 = one per CPU core the node has "
        "to itself (each relay's compiled data plane is one thread that fills at most one core)",
    )
    media_timeout_s: float = Field(30.0, gt=0, description="a silent leg ends the call")
    latch_timeout_s: float = Field(
        30.0,
        gt=0,
        description="a leg that sent no authenticated packet this long after it was added "
        "ends the call (media-timeout) and frees its port",
    )


class CallSettings(BaseModel):
    """Calls whose parties vanish, and how long a call may last."""

    party_grace_s: float = Field(
        20.0,
        gt=0,
        description="a party whose registrations are all gone may register again within this "
        "time and keep its calls; after it, its calls end (party-lost); longer than the "
        "gateway's 10 s registration refresh, which a tenant re-activated elsewhere awaits",
    )
    refresh_interval_s: float = Field(
        30.0,
        gt=0,
        description="how often an answered call checks that its parties are still registered "
        "(the session refresh: a registered party's pings refresh its calls)",
    )
    session_expires_s: float = Field(
        300.0,
        gt=0,
        description="a call that no party refreshed for this long ends (session-expired)",
    )
    max_duration_s: float = Field(
        43200.0, gt=0, description="the longest a call may last (max-duration); 12 hours"
    )
    max_ring_s: float = Field(
        300.0,
        gt=0,
        description="the longest a call may ring, over all its ring steps (a ring group's "
        "later steps are cut short); then it rings out (no-answer or voicemail)",
    )
    registration_timeout_s: float = Field(
        45.0,
        gt=0,
        description="the gateway drops a Register stream that sent no ping for this long "
        "(softphones ping every 15 s)",
    )


class VaultSettings(BaseModel):
    """Encryption at rest: where the root key lives and how long deleted content stays
    recoverable (``fabric/vault``)."""

    root_key_file: Path = Field(
        Path(".run/keys/root.key"),
        description="local root key file (made on first run, mode 0600); keep it outside "
        "the data directory and out of its backups",
    )
    backup_window_days: float = Field(
        30.0, ge=0, description="days a deleted object's data key is kept before destruction"
    )
    key_cache_s: float = Field(
        60.0, ge=0, description="how long unwrapped tenant keys are cached in a process"
    )
    sweep_interval_s: float = Field(
        3600.0, gt=0, description="how often due data-key destructions are carried out"
    )


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The limits of one plan (see :class:`LimitsSettings`)."""

    concurrent_calls: int
    media_sessions: int
    registrations_per_extension: int


class LimitsSettings(BaseModel):
    """Per-tenant limits by plan; over a limit a request is refused RESOURCE_EXHAUSTED
    (error id = the limit's name, with a retry-after)."""

    standard_concurrent_calls: int = Field(
        50, ge=1, description="STANDARD plan: calls a tenant may have going at once"
    )
    standard_media_sessions: int = Field(
        50, ge=1, description="STANDARD plan: calls with media (relay sessions) at once"
    )
    standard_registrations_per_extension: int = Field(
        5, ge=1, description="STANDARD plan: softphones registered on one extension at once"
    )
    pro_concurrent_calls: int = Field(
        500, ge=1, description="PRO plan: calls a tenant may have going at once"
    )
    pro_media_sessions: int = Field(
        500, ge=1, description="PRO plan: calls with media (relay sessions) at once"
    )
    pro_registrations_per_extension: int = Field(
        10, ge=1, description="PRO plan: softphones registered on one extension at once"
    )

    def for_plan(self, pro: bool) -> PlanLimits:
        """The limits of the PRO plan (``pro``) or of the STANDARD one."""
        if pro:
            return PlanLimits(self.pro_concurrent_calls, self.pro_media_sessions,
                              self.pro_registrations_per_extension)
        return PlanLimits(self.standard_concurrent_calls, self.standard_media_sessions,
                          self.standard_registrations_per_extension)


class TranscriptionSettings(BaseModel):
    """Speech to text on our own machines (``fabric.transcribe``, ``actors.transcription``)."""

    model_dir: Path = Field(
        Path(".cache/models/whisper-base"),
        description="the Whisper model directory (assembled by `make install`); no model "
        "there = transcripts are skipped with the reason",
    )
    model_sha256: str = Field(
        "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        pattern="^[0-9a-f]{64}$",
        description="pinned SHA-256 of model.bin, checked at load (a mismatch is refused)",
    )
    workers: int = Field(1, ge=0, description="transcription worker processes (0 = none)")
    cpu_threads: int = Field(2, ge=1, description="CPU threads of one worker's engine")
    beam_size: int = Field(1, ge=1, description="decoder beam size (1 = greedy)")
    language: str = Field("en", description="spoken language of recordings")
    queue_capacity: int = Field(
        200, ge=1, description="jobs waiting or running at once; more are refused (retry later)"
    )
    max_attempts: int = Field(3, ge=1, description="tries of one job before it fails")
    backoff_s: float = Field(2.0, gt=0, description="wait before the first retry (doubles)")
    backoff_max_s: float = Field(60.0, gt=0, description="longest wait between retries")
    job_timeout_s: float = Field(
        600.0, gt=0, description="a try running longer than this is abandoned and retried"
    )


class FabricSettings(BaseSettings):
    """All settings of one fabric process."""

    model_config = SettingsConfigDict(env_prefix="FABRIC_", env_nested_delimiter="__")

    storage: StorageSettings = Field(default_factory=StorageSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    calls: CallSettings = Field(default_factory=CallSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    transcription: TranscriptionSettings = Field(default_factory=TranscriptionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Highest first: constructor arguments, ``FABRIC_*`` variables, the TOML file.

        The file is ``model_config["toml_file"]`` (none on this class; :func:`load_settings`
        names it), read by pydantic-settings' own TOML source.
        """
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(path: Path | None = None) -> FabricSettings:
    """Settings from defaults, then the TOML file ``path`` (if given), then ``FABRIC_*``."""
    if path is None:
        return FabricSettings()
    if not path.is_file():
        raise FileNotFoundError(f"settings file {path} does not exist (see config.sample.toml)")

    class _FromFile(FabricSettings):
        model_config = SettingsConfigDict(toml_file=path)

    return FabricSettings.model_validate(_FromFile().model_dump())


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return f'"{value}"'


def render_sample() -> str:
    """Render ``config.sample.toml``: every setting, its default and its description."""
    lines = [
        "# Call fabric settings: every setting with its default.",
        "# Generated by `python -m fabric.config > config.sample.toml`; each value can also be",
        "# set by environment, e.g. FABRIC_STORAGE__BACKEND=cassandra.",
    ]
    defaults = FabricSettings()
    for section_name in FabricSettings.model_fields:
        section = getattr(defaults, section_name)
        lines.append("")
        lines.append(f"[{section_name}]")
        for name, field in type(section).model_fields.items():
            if field.description:
                lines.append(f"# {field.description}")
            lines.append(f"{name} = {_toml_value(getattr(section, name))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render_sample(), end="")
