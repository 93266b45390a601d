"""The register's aggregates and rules: pure, no I/O."""
