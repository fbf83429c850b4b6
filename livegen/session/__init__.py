"""session: see docs/architecture.md."""
