"""The command line of ``sigma9 paper-check`` (dispatched from ``frontend/main.py``).

Exit codes, as ``sigma9``'s own: 0 every row passed or could not run now, 1 a row FAILED or
the broker could not be reached (one sentence, no traceback), 2 a bad flag, a bad
configuration, or an account that is not paper.

The exit legs are the trader's own (``[exits]`` and ``[entry]`` of the configuration), so the
check sends the group Sigma9 would send; only host, port, client id and account come from
the flags (paper Gateway 127.0.0.1:4002 by default, a client id of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from backend.broker.paper_check.runner import (
    DEFAULT_CLIENT_ID,
    NotPaper,
    Options,
    PaperCheckError,
    run_paper_check,
)
from backend.core.exit_plan import EntryParams, ExitParams
from backend.settings import SettingsError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 130
PROG = "sigma9 paper-check"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_REFUSED, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=(
        "Check on your IB paper account that IB accepts Sigma9's exit group and behaves as "
        "docs/oca.md assumes; prints PASS / FAIL / CANNOT-CHECK per assumption and writes a "
        "wire capture. Refuses any account that is not paper (codes starting with DU)."))
    p.add_argument("--host", default="127.0.0.1", help="TWS / IB Gateway host (127.0.0.1)")
    p.add_argument("--port", type=int, default=4002,
                   help="API port (4002: IB Gateway paper; TWS paper is 7497)")
    p.add_argument("--client-id", type=int, default=DEFAULT_CLIENT_ID,
                   help=f"API client id ({DEFAULT_CLIENT_ID}, not the terminal's)")
    p.add_argument("--account", default="", help="account code (default: the first managed "
                                                  "one); must be a paper account")
    p.add_argument("--symbol", default="AAPL", type=str.upper,
                   help="a liquid US stock (AAPL); fill rows trade 1 share of it")
    p.add_argument("--no-fills", action="store_true",
                   help="place nothing that can fill; the rows that need a fill are SKIPPED")
    p.add_argument("--capture", type=Path, metavar="PATH",
                   help="wire capture file (default ./sigma9-paper-check-<UTC stamp>.txt)")
    return p


def _quiet_ib_insync() -> None:
    """ib_insync logs its own connect failure with a traceback-like line; the check says
    it in one sentence instead."""
    logger = logging.getLogger("ib_insync")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    options = Options(host=args.host, port=args.port, client_id=args.client_id,
                      account=args.account, symbol=args.symbol, fills=not args.no_fills,
                      capture=args.capture)
    _quiet_ib_insync()
    try:
        run = asyncio.run(run_paper_check(options, ExitParams.from_settings(settings.exits),
                                          EntryParams.from_settings(settings.entry)))
        return run.exit_code
    except NotPaper as exc:
        print(f"{PROG}: {exc}.", file=sys.stderr)
        return EXIT_REFUSED
    except PaperCheckError as exc:
        print(f"{PROG}: {exc}.", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; orders it placed may still be open on the paper "
              "account", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
