"""A client not written here: Confluent's own Python client decodes the worker's Avro output.

Reads `count` records of `topic` from the beginning with confluent-kafka's DeserializingConsumer
and AvroDeserializer (schema fetched from the registry by the id in each record's header) and
prints one JSON line per record: {"key": ..., "value": {...}}. Exits 1 if fewer arrive in time.

usage: avro_tail.py BOOTSTRAP TOPIC REGISTRY_URL COUNT TIMEOUT_S
"""

import json
import sys
import time
import uuid

from confluent_kafka import DeserializingConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import StringDeserializer


def main() -> int:
    bootstrap, topic, registry_url, count, timeout_s = sys.argv[1:6]
    registry = SchemaRegistryClient({"url": registry_url})
    consumer = DeserializingConsumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"avro-tail-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "key.deserializer": StringDeserializer("utf_8"),
            "value.deserializer": AvroDeserializer(registry),
        }
    )
    consumer.subscribe([topic])
    wanted, seen = int(count), 0
    deadline = time.monotonic() + float(timeout_s)
    try:
        while seen < wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                raise RuntimeError(message.error())
            print(json.dumps({"key": message.key(), "value": message.value()}, default=str))
            seen += 1
    finally:
        consumer.close()
    return 0 if seen >= wanted else 1


if __name__ == "__main__":
    sys.exit(main())
