"""python -m viz_core.train {gpt,vit,qat,mamba} [options]: dispatch to viz_core.train.<what>.main."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("gpt", "vit", "qat", "mamba"):
        print("usage: python -m viz_core.train {gpt,vit,qat,mamba} [options]  (--help after the name for its options)")
        return 2
    what, rest = argv[0], argv[1:]
    if what == "gpt":
        from viz_core.train.gpt import main as run
    elif what == "vit":
        from viz_core.train.vit import main as run
    elif what == "mamba":
        from viz_core.train.mamba import main as run
    else:
        from viz_core.train.qat import main as run
    return run(rest)


if __name__ == "__main__":
    raise SystemExit(main())
