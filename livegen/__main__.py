"""``python -m livegen`` entry point."""

from livegen.cli import main

raise SystemExit(main())
