"""The notifications service's aggregates and rules: pure, no I/O."""
