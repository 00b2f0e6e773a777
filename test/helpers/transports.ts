/** Both Kafka transports; correctness and kill -9 run once on each. */
export const TRANSPORTS = ['librdkafka', 'kafkajs'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/**
 * Broker tests whose promise is the pipeline's, not the transport's (dead letters, the drain):
 * the default client only. The in-memory transport holds them as unit tests
 * (test/unit/delivery-promises), and kafkajs's own part (produce, commit, rebalance) is proven by
 * the tests that still run on both.
 */
export const DEFAULT_TRANSPORT_ONLY = ['librdkafka'] as const satisfies readonly TransportName[];
