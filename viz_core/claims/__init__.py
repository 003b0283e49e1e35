"""The claims of ../shared/CLAIMS.md (``data``) and one judge per claim (``judges``).

``from viz_core.claims import CLAIMS, ClaimCheck, Verdict, JUDGES, judge_11`` — every verdict shown by a page,
a lab or the CLI comes from a judge here.
"""
from viz_core.claims.data import CLAIMS, Claim, ClaimCheck, Verdict  # noqa: F401
from viz_core.claims.judges import *  # noqa: F401,F403
from viz_core.claims.judges import JUDGES, RANGES, Range, place  # noqa: F401
