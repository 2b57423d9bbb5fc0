"""Settings from the environment, with the local defaults every script and test agrees on.

One frozen object per process, read once at start-up: configuration is an input of the process, not
something modules look up on their own.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def _default_instance_id() -> str:
    """A stable id per host and process slot: on Kubernetes the pod name (StatefulSet ordinal)."""
    return os.environ.get("HOSTNAME") or socket.gethostname()


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    database_url: str = "postgresql://csms:csms@127.0.0.1:5432/csms"
    # PostgreSQL schema of the projections; `csms replay --schema` rebuilds into another one.
    db_schema: str = "csms"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 9000
    # The station endpoint over TLS (security profiles 2 and 3, ADR 0035), beside the plain port;
    # 0 = ephemeral (tests), -1 = off.
    gateway_tls_port: int = 9443
    # Its certificates (PEM files). None of them set: a local development CA and server
    # certificates are made (once) in tls_dir, and ca.pem there verifies the gateway.
    tls_cert_rsa: str = ""
    tls_key_rsa: str = ""
    tls_cert_ecdsa: str = ""
    tls_key_ecdsa: str = ""
    # The CA that signs stations' client certificates (profile 3); empty: the development CA when
    # the certificates are made, else no client certificates are asked for.
    tls_client_ca: str = ""
    tls_dir: str = "~/.cache/csms/tls"
    # How often (s) the gateway looks whether the files changed; new connections use new files.
    tls_reload_interval: float = 5.0
    # The CPO's name: the O of a station's client certificate must be it (profile 3, whitepaper
    # A00.FR.404, A02.FR.13; ADR 0037). Empty: the development CA's organization.
    cpo_name: str = ""
    # The CA that signs stations' CSRs (SignCertificate); empty: the development CA in tls_dir.
    cp_ca_cert: str = ""
    cp_ca_key: str = ""
    # TLS terminated at an ingress (ADR 0037): the addresses (CIDR, comma-separated) whose
    # X-Forwarded-Client-Cert / ssl-client-cert header the plain port trusts. Empty: none.
    gateway_trusted_proxies: str = ""
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Identifies this gateway's inbox topic; must be unique among running gateways and stable
    # across restarts of the same slot (a StatefulSet pod name is ideal).
    gateway_id: str = field(default_factory=_default_instance_id)
    instance_id: str = field(default_factory=_default_instance_id)
    topic_prefix: str = ""
    frame_partitions: int = 8
    replication_factor: int = 1
    auto_register: bool = True
    # Whether a service process also runs its projections (read models). Off: run them elsewhere
    # with `csms projections`, e.g. to scale them apart from the OCPP path.
    projections: bool = True
    heartbeat_interval: int = 300
    # The interval a Pending or Rejected BootNotification answer tells the station to retry after.
    boot_retry_interval: int = 60
    # How long the gateway waits for a service to answer a station's CALL before answering
    # InternalError itself (the station retries transaction messages later).
    service_reply_timeout: float = 20.0
    # How long the gateway waits for Kafka to acknowledge a frame (acks=all) before it gives up on
    # it: a station CALL it cannot log gets InternalError instead of a hang (docs/reliability.md).
    # A station's CALL is answered within service_reply_timeout + log_timeout at worst.
    log_timeout: float = 5.0
    # How long a CALL sent to a station may stay unanswered (OCPP-J leaves it to the implementation).
    station_call_timeout: float = 30.0
    command_timeout: float = 15.0
    max_frame_bytes: int = 65536
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    # Admission control (ADR 0021): beyond this many open station connections, or this many upgrades
    # being decided at once, new upgrades get HTTP 503 + Retry-After before the upgrade.
    gateway_max_connections: int = 20_000
    gateway_max_handshakes: int = 500
    gateway_busy_retry_after: int = 10
    # Station password checks (PBKDF2) run in a pool of this many threads, off the event loop.
    auth_hash_workers: int = 2
    # Failed password checks tolerated per station id / per source address within the window (s);
    # beyond them: HTTP 429 with Retry-After (doubling from 1 s to 300 s) and no hashing (ADR 0020).
    auth_failures_per_station: int = 5
    auth_failures_per_address: int = 50
    auth_failure_window: float = 60.0
    # Firmware images and diagnostics uploads (shared by the operator API and the firmware service).
    files_dir: str = "~/.cache/csms/files"
    # The firmware service's file servers for stations; port 0 = ephemeral (tests), FTP -1 = off.
    files_host: str = "127.0.0.1"
    files_http_port: int = 8081
    files_ftp_port: int = 2121
    # FTP data connections: a port range "30000-30009" (empty: any port) and the address to announce
    # in PASV replies (empty: the host's own), for FTP through a load balancer or NAT.
    files_ftp_passive_ports: str = ""
    files_ftp_masquerade: str = ""
    # How stations reach the file servers (a public host name behind NAT); default: host:port above.
    files_public_host: str = ""
    firmware_tick: float = 1.0
    # A station with an update in progress that says nothing for this long has failed (Timeout).
    firmware_station_timeout: float = 900.0
    diagnostics_max_bytes: int = 50 * 2**20
    firmware_max_bytes: int = 512 * 2**20
    # PEM files: when both are set, the firmware file server speaks HTTPS (locations say https://).
    files_tls_cert: str = ""
    files_tls_key: str = ""
    # The local admin token of the operator API (a contract: tools outside the project read it).
    api_token_file: str = "~/.cache/csms/api-token"
    # Requests per second and burst per API token (a token bucket per token and API process).
    api_rate: float = 200.0
    api_burst: int = 1000
    # Kafka connection security (shared.kafka.configure): PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL.
    kafka_security_protocol: str = "PLAINTEXT"
    # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* only).
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    # PEM files: the CA that signed the brokers' certificates, and a client certificate (mutual TLS).
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    # How long a consumer's fetch may wait at the broker (ADR 0041). A consumer that decides on
    # each record is answered as soon as one arrives, so its wait costs no latency, only the idle
    # round trips (one per wait); a batching consumer (read models, followers) waits the same
    # while idle and, while records flow, is answered when kafka_batch_bytes are there or after
    # kafka_batch_lag_ms, the lag it accepts.
    kafka_fetch_wait_ms: int = 5000
    kafka_batch_lag_ms: int = 500
    kafka_batch_bytes: int = 256 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        base = cls()
        return cls(
            kafka_bootstrap=_env("CSMS_KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            database_url=_env("CSMS_DATABASE_URL", base.database_url),
            db_schema=_env("CSMS_DB_SCHEMA", base.db_schema),
            gateway_host=_env("CSMS_GATEWAY_HOST", base.gateway_host),
            gateway_port=int(_env("CSMS_GATEWAY_PORT", str(base.gateway_port))),
            gateway_tls_port=int(_env("CSMS_GATEWAY_TLS_PORT", str(base.gateway_tls_port))),
            tls_cert_rsa=_env("CSMS_TLS_CERT_RSA", base.tls_cert_rsa),
            tls_key_rsa=_env("CSMS_TLS_KEY_RSA", base.tls_key_rsa),
            tls_cert_ecdsa=_env("CSMS_TLS_CERT_ECDSA", base.tls_cert_ecdsa),
            tls_key_ecdsa=_env("CSMS_TLS_KEY_ECDSA", base.tls_key_ecdsa),
            tls_client_ca=_env("CSMS_TLS_CLIENT_CA", base.tls_client_ca),
            tls_dir=_env("CSMS_TLS_DIR", base.tls_dir),
            tls_reload_interval=float(_env("CSMS_TLS_RELOAD_INTERVAL", str(base.tls_reload_interval))),
            cpo_name=_env("CSMS_CPO_NAME", base.cpo_name),
            cp_ca_cert=_env("CSMS_CP_CA_CERT", base.cp_ca_cert),
            cp_ca_key=_env("CSMS_CP_CA_KEY", base.cp_ca_key),
            gateway_trusted_proxies=_env("CSMS_GATEWAY_TRUSTED_PROXIES", base.gateway_trusted_proxies),
            api_host=_env("CSMS_API_HOST", base.api_host),
            api_port=int(_env("CSMS_API_PORT", str(base.api_port))),
            gateway_id=_env("CSMS_GATEWAY_ID", base.gateway_id),
            instance_id=_env("CSMS_INSTANCE_ID", base.instance_id),
            topic_prefix=_env("CSMS_TOPIC_PREFIX", base.topic_prefix),
            frame_partitions=int(_env("CSMS_FRAME_PARTITIONS", str(base.frame_partitions))),
            replication_factor=int(_env("CSMS_REPLICATION_FACTOR", str(base.replication_factor))),
            auto_register=_env_bool("CSMS_AUTO_REGISTER", base.auto_register),
            projections=_env_bool("CSMS_PROJECTIONS", base.projections),
            heartbeat_interval=int(_env("CSMS_HEARTBEAT_INTERVAL", str(base.heartbeat_interval))),
            boot_retry_interval=int(_env("CSMS_BOOT_RETRY_INTERVAL", str(base.boot_retry_interval))),
            service_reply_timeout=float(_env("CSMS_SERVICE_REPLY_TIMEOUT", str(base.service_reply_timeout))),
            log_timeout=float(_env("CSMS_LOG_TIMEOUT", str(base.log_timeout))),
            station_call_timeout=float(_env("CSMS_STATION_CALL_TIMEOUT", str(base.station_call_timeout))),
            command_timeout=float(_env("CSMS_COMMAND_TIMEOUT", str(base.command_timeout))),
            max_frame_bytes=int(_env("CSMS_MAX_FRAME_BYTES", str(base.max_frame_bytes))),
            ping_interval=float(_env("CSMS_PING_INTERVAL", str(base.ping_interval))),
            ping_timeout=float(_env("CSMS_PING_TIMEOUT", str(base.ping_timeout))),
            gateway_max_connections=int(
                _env("CSMS_GATEWAY_MAX_CONNECTIONS", str(base.gateway_max_connections))
            ),
            gateway_max_handshakes=int(_env("CSMS_GATEWAY_MAX_HANDSHAKES", str(base.gateway_max_handshakes))),
            gateway_busy_retry_after=int(
                _env("CSMS_GATEWAY_BUSY_RETRY_AFTER", str(base.gateway_busy_retry_after))
            ),
            auth_hash_workers=int(_env("CSMS_AUTH_HASH_WORKERS", str(base.auth_hash_workers))),
            auth_failures_per_station=int(
                _env("CSMS_AUTH_FAILURES_PER_STATION", str(base.auth_failures_per_station))
            ),
            auth_failures_per_address=int(
                _env("CSMS_AUTH_FAILURES_PER_ADDRESS", str(base.auth_failures_per_address))
            ),
            auth_failure_window=float(_env("CSMS_AUTH_FAILURE_WINDOW", str(base.auth_failure_window))),
            files_dir=_env("CSMS_FILES_DIR", base.files_dir),
            files_host=_env("CSMS_FILES_HOST", base.files_host),
            files_http_port=int(_env("CSMS_FILES_HTTP_PORT", str(base.files_http_port))),
            files_ftp_port=int(_env("CSMS_FILES_FTP_PORT", str(base.files_ftp_port))),
            files_ftp_passive_ports=_env("CSMS_FILES_FTP_PASSIVE_PORTS", base.files_ftp_passive_ports),
            files_ftp_masquerade=_env("CSMS_FILES_FTP_MASQUERADE", base.files_ftp_masquerade),
            files_public_host=_env("CSMS_FILES_PUBLIC_HOST", base.files_public_host),
            firmware_tick=float(_env("CSMS_FIRMWARE_TICK", str(base.firmware_tick))),
            firmware_station_timeout=float(
                _env("CSMS_FIRMWARE_STATION_TIMEOUT", str(base.firmware_station_timeout))
            ),
            diagnostics_max_bytes=int(_env("CSMS_DIAGNOSTICS_MAX_BYTES", str(base.diagnostics_max_bytes))),
            firmware_max_bytes=int(_env("CSMS_FIRMWARE_MAX_BYTES", str(base.firmware_max_bytes))),
            files_tls_cert=_env("CSMS_FILES_TLS_CERT", base.files_tls_cert),
            files_tls_key=_env("CSMS_FILES_TLS_KEY", base.files_tls_key),
            api_token_file=_env("CSMS_API_TOKEN_FILE", base.api_token_file),
            api_rate=float(_env("CSMS_API_RATE", str(base.api_rate))),
            api_burst=int(_env("CSMS_API_BURST", str(base.api_burst))),
            kafka_security_protocol=_env("CSMS_KAFKA_SECURITY_PROTOCOL", base.kafka_security_protocol),
            kafka_sasl_mechanism=_env("CSMS_KAFKA_SASL_MECHANISM", base.kafka_sasl_mechanism),
            kafka_sasl_username=_env("CSMS_KAFKA_SASL_USERNAME", base.kafka_sasl_username),
            kafka_sasl_password=_env("CSMS_KAFKA_SASL_PASSWORD", base.kafka_sasl_password),
            kafka_ssl_cafile=_env("CSMS_KAFKA_SSL_CAFILE", base.kafka_ssl_cafile),
            kafka_ssl_certfile=_env("CSMS_KAFKA_SSL_CERTFILE", base.kafka_ssl_certfile),
            kafka_ssl_keyfile=_env("CSMS_KAFKA_SSL_KEYFILE", base.kafka_ssl_keyfile),
            kafka_fetch_wait_ms=int(_env("CSMS_KAFKA_FETCH_WAIT_MS", str(base.kafka_fetch_wait_ms))),
            kafka_batch_lag_ms=int(_env("CSMS_KAFKA_BATCH_LAG_MS", str(base.kafka_batch_lag_ms))),
            kafka_batch_bytes=int(_env("CSMS_KAFKA_BATCH_BYTES", str(base.kafka_batch_bytes))),
        )
