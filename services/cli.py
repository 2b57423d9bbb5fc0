"""The ``csms`` command: run one service, run them all under a supervisor, administer topics.

csms gateway | stations | transactions | smartcharging | reservations | locallists | firmware | api
                                     one deployable process each (what Kubernetes runs)
csms all                             every service as a supervised child process (local use)
csms topics create | list            topic administration
csms replay [--schema S]             rebuild every projection from offset 0 (into schema S)
csms station-register ID [--password P] [--site S]
csms token create --name N --role viewer|operator|admin | list | revoke ID
                                     operator API tokens (ADR 0036)
csms simulate [--stations N --scenario idle|charging|mixed|storm|offline | --rate R] ...
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import uvloop

from shared.config import Settings

if TYPE_CHECKING:
    from shared.projection.base import Projection

# Each entry: the coroutine that runs one service until it is asked to stop.
ServiceMain = Callable[[Settings, asyncio.Event], Awaitable[None]]


async def _run_gateway(settings: Settings, stop: asyncio.Event) -> None:
    from services.gateway.app import Gateway

    gateway = Gateway(settings)
    await gateway.start()
    print(f"gateway: ws://{settings.gateway_host}:{gateway.port}/ocpp/{{chargePointId}}", flush=True)
    if gateway.tls is not None:
        ca = gateway.tls.files.server_ca
        verify = f" (the server is verified with {ca})" if ca is not None else ""
        print(
            f"gateway: wss://{settings.gateway_host}:{gateway.tls_port}/ocpp/{{chargePointId}}{verify}",
            flush=True,
        )
    await stop.wait()
    await gateway.stop()


def _run_domain(name: str) -> ServiceMain:
    """A domain service: its runners (``services/<name>/main.py``) until asked to stop."""

    async def run(settings: Settings, stop: asyncio.Event) -> None:
        from importlib import import_module

        from shared.service import run_until

        await run_until(import_module(f"services.{name}.main").runners(settings), stop)

    return run


async def _run_api(settings: Settings, stop: asyncio.Event) -> None:
    from services.api.app import OperatorApi

    api = OperatorApi(settings)
    await api.start()
    print(f"operator API: http://{settings.api_host}:{api.port} (OpenAPI at /openapi.json)", flush=True)
    await stop.wait()
    await api.stop()


async def _run_projections(settings: Settings, stop: asyncio.Event) -> None:
    from shared.projection.runner import projection_runners
    from shared.service import run_until

    await run_until(projection_runners(projections(settings), settings), stop)


def projections(settings: Settings) -> list[Projection]:
    """Every read model of the system: what `csms replay` rebuilds."""
    from services.firmware import main as firmware
    from services.locallists import main as locallists
    from services.reservations import main as reservations
    from services.smartcharging import main as smartcharging
    from services.stations import main as stations
    from services.transactions import main as transactions
    from shared.events.topics import Topics

    topics = Topics(settings.topic_prefix, settings.frame_partitions)
    return [
        *stations.projections(topics),
        *transactions.projections(topics),
        *smartcharging.projections(topics),
        *reservations.projections(topics),
        *locallists.projections(topics),
        *firmware.projections(topics),
    ]


def _replay(settings: Settings, schema: str) -> None:
    from shared.events.topics import Topics
    from shared.projection.pool import DbTarget
    from shared.projection.rebuild import rebuild

    target = DbTarget(settings.database_url, schema)
    dead_letters = Topics(settings.topic_prefix, settings.frame_partitions).dead_letters
    for r in asyncio.run(
        rebuild(projections(settings), settings.kafka_bootstrap, target, dead_letters=dead_letters)
    ):
        print(
            f"replayed {r.projection}: {r.records} records in {r.seconds:.1f}s into schema {schema}",
            flush=True,
        )


SERVICES: dict[str, ServiceMain] = {
    "gateway": _run_gateway,
    **{
        name: _run_domain(name)
        for name in ("stations", "transactions", "smartcharging", "reservations", "locallists", "firmware")
    },
    "api": _run_api,
}
# Not part of `csms all` (the services run their own projections unless CSMS_PROJECTIONS=off).
EXTRA: dict[str, ServiceMain] = {"projections": _run_projections}


def _serve(name: str, settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from shared import telemetry
        from shared.diagnostics import install_task_dump

        install_task_dump(loop)
        from shared.kafka import wait_for_kafka

        telemetry.install_from_environment(f"csms-{name}")

        await wait_for_kafka(settings.kafka_bootstrap)
        await {**SERVICES, **EXTRA}[name](settings, stop)

    uvloop.run(main())


def _supervise(names: list[str]) -> int:
    from services.supervisor import supervise

    return supervise(names)


def _topics(action: str, settings: Settings) -> None:
    from shared.events.topics import Topics
    from shared.kafka import connection, ensure_topics

    topics = Topics(settings.topic_prefix, settings.frame_partitions)

    async def main() -> None:
        if action == "create":
            await ensure_topics(settings.kafka_bootstrap, topics.shared_specs(), settings.replication_factor)
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(**connection(), bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            for name in sorted(await admin.list_topics()):
                if not name.startswith("__"):
                    print(name)
        finally:
            await admin.close()

    asyncio.run(main())


def _register(station_id: str, password: str | None, site: str | None, settings: Settings) -> None:
    from shared.events.envelope import StationRegistration, encode
    from shared.events.topics import Topics
    from shared.kafka import ensure_topics, make_producer
    from shared.security import hash_password

    topics = Topics(settings.topic_prefix, settings.frame_partitions)

    async def main() -> None:
        await ensure_topics(settings.kafka_bootstrap, topics.shared_specs(), settings.replication_factor)
        producer = make_producer(settings.kafka_bootstrap, client_id="csms-cli")
        await producer.start()
        try:
            record = StationRegistration(
                station_id=station_id,
                password_hash=hash_password(password) if password else None,
                site=site,
            )
            await producer.send_and_wait(topics.stations, encode(record), key=station_id.encode())
        finally:
            await producer.stop()
        print(f"registered {station_id}")

    asyncio.run(main())


def _token(args: argparse.Namespace, settings: Settings) -> int:
    """``csms token create|list|revoke``: the records of ``csms.apitokens``, written to Kafka directly."""
    from shared.apitokens import append_token, mint, revoked
    from shared.clock import SYSTEM
    from shared.events.apitokens import ApiTokenRecord, api_token_decoder
    from shared.events.topics import Topics
    from shared.kafka import ensure_topics
    from shared.projection.columns import ms_to_datetime
    from shared.tables import CompactedView

    topics = Topics(settings.topic_prefix, settings.frame_partitions)

    async def main() -> int:
        await ensure_topics(settings.kafka_bootstrap, topics.shared_specs(), settings.replication_factor)
        if args.action == "create":
            record, token = mint(args.name, args.role, SYSTEM.now_ms())
            await append_token(settings, record)
            print(
                f"created token {record.id} ({record.name}, {record.role}); it is shown only now:",
                file=sys.stderr,
            )
            print(token, flush=True)
            return 0
        view: CompactedView[ApiTokenRecord] = CompactedView(
            settings.kafka_bootstrap, topics.api_tokens, api_token_decoder.decode
        )
        await view.start()
        await view.stop()
        if args.action == "list":
            for token_id, record in sorted(view.items()):
                gone = record.revoked_at_ms
                state = "live" if gone is None else f"revoked {ms_to_datetime(gone):%Y-%m-%dT%H:%M:%SZ}"
                print(f"{token_id}  {record.role:<8}  {state:<22}  {record.name}")
            return 0
        found = view.get(args.id)
        if found is None:
            print(f"unknown token {args.id}", file=sys.stderr)
            return 1
        await append_token(settings, revoked(found, SYSTEM.now_ms()))
        print(f"revoked {args.id}")
        return 0

    return asyncio.run(main())


def _local_admin_token(settings: Settings) -> None:
    """``csms all`` (``make run``): a live admin token in ~/.cache/csms/api-token, and where it is."""
    from shared.apitokens import ensure_local_admin_token
    from shared.clock import SYSTEM

    path, minted = asyncio.run(ensure_local_admin_token(settings, SYSTEM.now_ms()))
    print(f"operator API admin token{' (new)' if minted else ''}: {path}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="csms", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SERVICES:
        sub.add_parser(name, help=f"run the {name} service")
    sub.add_parser(
        "projections", help="run every projection (for services started with CSMS_PROJECTIONS=off)"
    )
    all_parser = sub.add_parser("all", help="run every service, supervised, until Ctrl-C")
    all_parser.add_argument("--only", nargs="*", default=None, help="subset of services")
    topics = sub.add_parser("topics", help="topic administration")
    topics.add_argument("action", choices=["create", "list"])
    replay = sub.add_parser("replay", help="rebuild every projection from offset 0 into a schema")
    replay.add_argument("--schema", default=None, help="PostgreSQL schema (default: CSMS_DB_SCHEMA)")
    sim = sub.add_parser("simulate", help="run a simulated fleet of OCPP 1.6J stations against a CSMS")
    from services.simulator.cli import add_arguments

    add_arguments(sim)
    reg = sub.add_parser("station-register", help="register a station (and its Basic-auth password)")
    reg.add_argument("station_id")
    reg.add_argument("--password")
    reg.add_argument("--site")
    token = sub.add_parser("token", help="operator API tokens: create, list, revoke")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="create a token; prints it once, on stdout")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["viewer", "operator", "admin"])
    token_sub.add_parser("list", help="every token: id, role, state, name (never a secret)")
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=os.environ.get("CSMS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = Settings.from_env()
    from shared.kafka import configure

    try:
        configure(settings)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command in SERVICES or args.command in EXTRA:
        _serve(args.command, settings)
        return 0
    if args.command == "all":
        from shared.kafka import wait_for_kafka

        asyncio.run(wait_for_kafka(settings.kafka_bootstrap))
        _local_admin_token(settings)
        return _supervise(args.only or list(SERVICES))
    if args.command == "token":
        return _token(args, settings)
    if args.command == "topics":
        _topics(args.action, settings)
        return 0
    if args.command == "replay":
        _replay(settings, args.schema or settings.db_schema)
        return 0
    if args.command == "simulate":
        from services.simulator.cli import simulate

        return simulate(args)
    if args.command == "station-register":
        _register(args.station_id, args.password, args.site, settings)
        return 0
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
