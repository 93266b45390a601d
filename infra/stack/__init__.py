"""The embedded stack: PostgreSQL and NATS from wheels (`servers`), `sendcase up` supervising the services
(`supervisor`, `status`, `catalogue`), and throw-away servers for the tests and benchmarks (`scratch`)."""
