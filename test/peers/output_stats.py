"""Reads a whole topic once and prints, as JSON, what the benchmark times by (not part of the
worker): the record count, the first and last broker timestamps (LogAppendTime on the
benchmark's output topics) and, with --latency, percentiles of timestamp - eventTimestamp, the
input event's time that the worker writes into each prediction.

usage: output_stats.py --bootstrap B --topic T [--latency]
"""
import argparse
import json

from confluent_kafka import Consumer, TopicPartition


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--latency", action="store_true")
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "bench-output-stats",
        "enable.auto.commit": False,
    })
    partitions = consumer.list_topics(args.topic, timeout=10).topics[args.topic].partitions
    ends = {}
    assignment = []
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10)
        if high > low:
            ends[p] = high
            assignment.append(TopicPartition(args.topic, p, low))
    consumer.assign(assignment)
    count, first, last, latencies = 0, None, None, []
    remaining = dict(ends)
    while remaining:
        for m in consumer.consume(1000, timeout=5.0):
            if m.error() is not None:
                continue
            count += 1
            ts = m.timestamp()[1]
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
            if args.latency:
                latencies.append(ts - json.loads(m.value())["eventTimestamp"])
            if m.offset() + 1 >= remaining.get(m.partition(), 0):
                remaining.pop(m.partition(), None)
        # A transactional topic ends with a commit marker, which is never handed over: the
        # position moving past the end says the partition is read.
        if remaining:
            for tp in consumer.position([TopicPartition(args.topic, p) for p in remaining]):
                if tp.offset >= remaining.get(tp.partition, 0):
                    remaining.pop(tp.partition, None)
    consumer.close()
    latencies.sort()
    print(json.dumps({
        "count": count,
        "first": first,
        "last": last,
        "latency": {p: percentile(latencies, p) for p in (50, 95, 99)} if args.latency else None,
    }))


if __name__ == "__main__":
    main()
