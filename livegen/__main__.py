"""``python -m livegen`` entry point."""

from livegen.cli import run

run()
