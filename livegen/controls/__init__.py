"""controls: see docs/architecture.md."""
