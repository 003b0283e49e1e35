"""``python -m viz_core bench <suite> ...``: see viz_core/cli/runner.py."""
from viz_core.cli.runner import main

raise SystemExit(main())
