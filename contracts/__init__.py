"""The language the sendcase services speak.

Pydantic v2 models of commands, queries, replies and integration events, versioned. This package does
no I/O and imports only pydantic and the standard library (checked by import-linter in CI), so any
service, the CLI and an external system can depend on it without pulling in a service.
"""
