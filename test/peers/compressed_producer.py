"""Produces JSON lines from a file with Confluent's Python client (librdkafka), compressed with
the codec given, so a test can check the worker reads what real producers write.

usage: compressed_producer.py BOOTSTRAP TOPIC CODEC FILE.jsonl
Prints the number of records acknowledged."""
import json
import sys

from confluent_kafka import Producer


def main() -> None:
    bootstrap, topic, codec, path = sys.argv[1:5]
    producer = Producer({
        'bootstrap.servers': bootstrap,
        'compression.type': codec,
        'acks': 'all',
        'linger.ms': 20,
        'partitioner': 'murmur2_random',
    })
    acked = 0
    failed = []

    def on_delivery(error, _message):
        nonlocal acked
        if error is None:
            acked += 1
        else:
            failed.append(str(error))

    with open(path, encoding='utf8') as lines:
        for line in lines:
            event = json.loads(line)
            producer.produce(topic, key=str(event['id']), value=line.strip(), on_delivery=on_delivery)
            producer.poll(0)
    producer.flush(30)
    if failed:
        sys.exit(f'{len(failed)} records failed: {failed[0]}')
    print(acked)


if __name__ == '__main__':
    main()
