/** Both Kafka transports; the delivery-promise tests run once on each. */
export const TRANSPORTS = ['librdkafka', 'kafkajs'] as const;
export type TransportName = (typeof TRANSPORTS)[number];
