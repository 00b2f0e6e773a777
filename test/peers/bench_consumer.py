"""Benchmark peers: what a user would write instead of running the worker (not part of it).

Modes, each a plain confluent-kafka loop (librdkafka underneath) that drains the input topic:
  passthrough  consume -> produce the value unchanged (acks=all) -> commit; no model
  per-event    featurize from model.json, one onnxruntime session.run per event
  per-poll     featurize from model.json, one session.run per poll of up to 500 events
Every mode produces, flushes and commits once per poll (offsets only after the outputs are
acknowledged, as the worker promises). Predictions are JSON with label, confidence, top-k and
source, like the worker's, without headers. The process exits once it has consumed --events.

usage: bench_consumer.py MODE --bootstrap B --input T --output T --group G --events N
                         [--model DIR]
"""
import argparse
import json
import os
import sys

from confluent_kafka import Consumer, KafkaException, Producer

POLL_EVENTS = 500


def featurizer(manifest):
    """Row encoding exactly as model.json declares (numbers, booleans, one-hot, vectors)."""
    features = manifest["features"]

    def encode(record, out):
        at = 0
        for f in features:
            value = record.get(f["name"])
            if value is None:
                value = f.get("default")
            kind = f["type"]
            if kind == "number":
                out[at] = float(value if value is not None else 0)
                at += 1
            elif kind == "boolean":
                out[at] = 1.0 if value else 0.0
                at += 1
            elif kind == "category":
                cats = f["categories"]
                out[at : at + len(cats)] = 0.0
                if value is not None:
                    out[at + cats.index(value)] = 1.0
                at += len(cats)
            else:
                out[at : at + f["length"]] = value
                at += f["length"]

    width = sum(
        len(f["categories"]) if f["type"] == "category"
        else f["length"] if f["type"] == "vector" else 1
        for f in features
    )
    return encode, width


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["passthrough", "per-event", "per-poll"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--model")
    # How long one consume waits for records: 1 s for a backlog, a few ms under open-loop load.
    parser.add_argument("--poll-wait-ms", type=int, default=1000)
    # Written once the consumer has its partitions, so that a load generator can start then.
    parser.add_argument("--ready-file")
    args = parser.parse_args()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all", "linger.ms": 5})

    infer = None
    if args.mode != "passthrough":
        import numpy as np
        import onnxruntime as ort

        manifest = json.load(open(os.path.join(args.model, "model.json")))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(
            os.path.join(args.model, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        encode, width = featurizer(manifest)
        labels = manifest["output"]["labels"]
        top_k = manifest["output"].get("topK", 1)
        in_name, out_name = manifest["input"]["name"], manifest["output"]["name"]

        def predictions(records):
            rows = np.zeros((len(records), width), dtype=np.float32)
            for i, record in enumerate(records):
                encode(record, rows[i])
            if args.mode == "per-event":
                probs = [session.run([out_name], {in_name: rows[i : i + 1]})[0][0]
                         for i in range(len(records))]
            else:
                probs = session.run([out_name], {in_name: rows})[0]
            for p in probs:
                order = np.argsort(-p)[:top_k]
                yield {
                    "label": labels[order[0]],
                    "confidence": float(p[order[0]]),
                    "topK": [{"label": labels[j], "probability": float(p[j])} for j in order],
                }

        infer = predictions

    failures = []

    def delivered(err, _msg):
        if err is not None:
            failures.append(err)

    def assigned(_consumer, _partitions):
        if args.ready_file:
            open(args.ready_file, "w").close()

    consumer.subscribe([args.input], on_assign=assigned)
    consumed = 0
    try:
        while consumed < args.events:
            messages = consumer.consume(POLL_EVENTS, timeout=args.poll_wait_ms / 1000)
            messages = [m for m in messages if m.error() is None]
            if not messages:
                continue
            if infer is None:
                for m in messages:
                    producer.produce(args.output, m.value(), m.key(), on_delivery=delivered)
            else:
                records = [json.loads(m.value()) for m in messages]
                for m, prediction in zip(messages, infer(records)):
                    prediction["source"] = {
                        "topic": m.topic(), "partition": m.partition(), "offset": str(m.offset())
                    }
                    prediction["eventTimestamp"] = m.timestamp()[1]
                    producer.produce(
                        args.output, json.dumps(prediction).encode(), m.key(), on_delivery=delivered
                    )
                    producer.poll(0)
            producer.flush()
            if failures:
                raise KafkaException(failures[0])
            consumer.commit(asynchronous=False)
            consumed += len(messages)
    finally:
        consumer.close()
    print(json.dumps({"consumed": consumed}))


if __name__ == "__main__":
    sys.exit(main())
