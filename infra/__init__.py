"""How to run sendcase, grouped by what each part is:

- `infra.stack`: the embedded development stack (PostgreSQL and NATS from wheels) and `sendcase up`'s
  supervision of the service processes; also the throw-away servers the tests and benchmarks use.
- `infra.cli`: the `sendcase` command (Typer), how it finds a running stack and how it shows replies.
- `infra.demo`: `sendcase demo` and what it shows (the file outbox).
- `infra/production/`: example production configuration (not Python).

infra may import the services (it composes them); no service imports infra.
"""
