"""``python -m segstudio`` runs the command line (the GUI by default)."""

from segstudio.cli import main

raise SystemExit(main())
