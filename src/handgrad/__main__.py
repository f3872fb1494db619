"""`python -m handgrad` runs the `handgrad` command."""

from handgrad.cli import main

raise SystemExit(main())
