"""The gateway: how people and the LA's other systems reach sendcase (docs/security.md)."""
