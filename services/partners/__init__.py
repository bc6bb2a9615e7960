"""Partners: partner systems receive the platform events they are entitled to, by NATS,
webhook and server-sent events (Art. 11, 13, 38)."""
