"""``python -m soak``: the seeded fault soak of the whole application (docs/reliability.md).

    python -m soak --episodes 200 --seed 1      # episodes seeded 1..200
    python -m soak --replay 17                  # one episode, step by step, its log kept

Exit status 0 when no invariant was violated, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from soak.episode import EpisodeResult, run_episode
from soak.report import format_summary, summarize

DEFAULT_EPISODES = 200


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m soak", description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES,
                   help=f"how many episodes (default {DEFAULT_EPISODES})")
    p.add_argument("--seed", type=int, default=1, help="seed of the first episode (default 1)")
    p.add_argument("--replay", type=int, metavar="SEED", help="run only this seed, verbosely")
    p.add_argument("--jobs", type=int, default=2, help="episodes at once (default 2)")
    p.add_argument("--json", type=Path, default=Path("soak/results.json"),
                   help="where the summary is written as JSON (default soak/results.json)")
    p.add_argument("--keep", type=Path, default=Path("soak/runs"),
                   help="folder for failing episodes' logs and journals (default soak/runs)")
    args = p.parse_args(argv)
    if args.episodes < 1 or args.jobs < 1:
        p.error("--episodes and --jobs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    # The simulator writing to a socket the killed application left behind is expected here.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    started = time.monotonic()
    if args.replay is not None:
        result = run_episode(args.replay, keep_dir=args.keep, verbose=True)
        print("\n".join(result.log))
        results = [result]
    else:
        seeds = range(args.seed, args.seed + args.episodes)
        results = []

        def one(seed: int) -> EpisodeResult:
            return run_episode(seed, keep_dir=args.keep)

        with ThreadPoolExecutor(args.jobs) as pool:
            for r in pool.map(one, seeds):
                results.append(r)
                mark = "ok" if not (r.violations or r.error) else (
                    ", ".join(sorted({v.invariant for v in r.violations})) or "error")
                print(f"episode {r.seed}: {r.duration_s:.1f}s, {len(r.faults)} faults, {mark}",
                      flush=True)
    summary = summarize(results, {"episodes": len(results), "first_seed": args.seed,
                                  "replay": args.replay, "jobs": args.jobs,
                                  "wall_s": round(time.monotonic() - started, 1)})
    print("\n".join(format_summary(summary)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1, default=str) + "\n")
        print(f"summary written to {args.json}")
    return 1 if summary["failing_seeds"] else 0


if __name__ == "__main__":
    sys.exit(main())
