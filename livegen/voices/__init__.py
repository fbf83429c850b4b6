"""voices: see docs/architecture.md."""
