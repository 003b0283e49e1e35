"""``python -m viz_core bench <suite> ...``: see viz_core/bench/runner.py."""
from viz_core.bench.runner import main

raise SystemExit(main())
