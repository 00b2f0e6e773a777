"""Open-loop load for the latency benchmark (not part of the worker): sends the JSON lines of a
file to a topic at a fixed rate, whatever the consumer does, with the send time as each record's
timestamp (CreateTime), then flushes. Prints how many were sent and the rate achieved.

usage: rate_producer.py --bootstrap B --topic T --file F --rate EVENTS_PER_S
"""
import argparse
import json
import time

from confluent_kafka import Producer

TICK_S = 0.005


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args()

    lines = [line.rstrip("\n").encode() for line in open(args.file) if line.strip()]
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 1})
    start = time.monotonic()
    sent = 0
    while sent < len(lines):
        due = min(len(lines), int((time.monotonic() - start) * args.rate) + 1)
        while sent < due:
            producer.produce(args.topic, lines[sent], timestamp=int(time.time() * 1000))
            sent += 1
        producer.poll(0)
        time.sleep(TICK_S)
    producer.flush()
    elapsed = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": elapsed, "rate": sent / elapsed}))


if __name__ == "__main__":
    main()
