"""The bus: JetStream streams, CloudEvents headers, the transactional outbox and its relay, and
durable idempotent consumers. Guarantee: at-least-once delivery, effectively-once effects."""
