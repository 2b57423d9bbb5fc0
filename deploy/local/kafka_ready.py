"""Exit 0 when the Kafka cluster at argv[1] answers a metadata request listing at least argv[2]
brokers (default 1) (used by kafka.sh: a 3-node cluster is ready when every node registered)."""

import asyncio
import sys


async def main(bootstrap: str, brokers: int = 1) -> int:
    try:
        from aiokafka.admin import AIOKafkaAdminClient
    except ImportError:  # before the venv exists: the open port has to do
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        info = await asyncio.wait_for(admin.describe_cluster(), 5)
        return 0 if len(info["brokers"]) >= brokers else 1
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return 1
    finally:
        await admin.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)))
