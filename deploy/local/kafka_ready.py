"""Exit 0 when the Kafka broker at argv[1] answers a metadata request (used by kafka.sh)."""

import asyncio
import sys


async def main(bootstrap: str) -> int:
    try:
        from aiokafka.admin import AIOKafkaAdminClient
    except ImportError:  # before the venv exists: the open port has to do
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.describe_cluster(), 5)
        return 0
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return 1
    finally:
        await admin.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
