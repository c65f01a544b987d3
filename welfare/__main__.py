"""`python -m welfare` is the `welfare` command."""

from welfare.cli import main

raise SystemExit(main())
