"""The shared runtime: what every service needs, written once.

settings, logging, the clock and command context, domain errors, the event-store adapter, the
notification-log follower, the outbox relay, the tracked consumer, projections, the command and query
endpoints, and the loop that runs one service. Knows no particular service (checked by import-linter).
"""
