"""One figure in a process of its own: ``python -m bench.figure NAME SCALE OUT.json``.

``bench.run`` starts every figure this way, so no figure inherits another's memory (the
RSS of figure 4 starts from a fresh interpreter), threads, event loops or Qt application.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from bench.run import FIGURES


def main(argv: list[str]) -> int:
    name, scale, out = argv
    result = importlib.import_module(FIGURES[name]).run(scale)
    Path(out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
