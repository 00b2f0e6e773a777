"""Follows a topic as a read_committed reader while a load runs, and prints as JSON the
percentiles of (the time each prediction reached this reader) - (its eventTimestamp, the input
record's time the producer set): the latency a downstream consumer sees, which for an
exactly-once worker includes the wait for the transaction's commit (not part of the worker).

usage: visible_latency.py --bootstrap B --topic T --count N --ready-file F [--timeout-s S]
"""
import argparse
import json
import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from output_stats import percentile


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--timeout-s", type=float, default=120)
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": f"bench-visible-latency-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": 5,
    })
    partitions = consumer.list_topics(args.topic, timeout=10).topics[args.topic].partitions
    consumer.assign([TopicPartition(args.topic, p, 0) for p in partitions])
    consumer.consume(1, timeout=0.5)  # connected and fetching before the load starts
    with open(args.ready_file, "w") as ready:
        ready.write("ready\n")
    latencies = []
    deadline = time.time() + args.timeout_s
    while len(latencies) < args.count and time.time() < deadline:
        messages = consumer.consume(1000, timeout=0.05)
        now_ms = time.time() * 1000
        for m in messages:
            if m.error() is None and m.value():
                latencies.append(now_ms - json.loads(m.value())["eventTimestamp"])
    consumer.close()
    latencies.sort()
    print(json.dumps({
        "count": len(latencies),
        "latency": {str(p): percentile(latencies, p) for p in (50, 95, 99)},
    }))


if __name__ == "__main__":
    main()
