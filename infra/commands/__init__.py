"""`sendcase <service> ...` subcommands: one module per service, each a typer app talking over NATS."""
