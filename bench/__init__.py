"""Sigma9's benchmarks (issue 12): ``make bench`` runs them, docs/performance.md reports them.

One module per figure, each with ``run(scale)`` returning plain data ("full", "quick" or
"smoke"); ``bench.run`` runs them and ``bench.report`` writes the table. Benchmarks, not
tests: nothing here asserts a duration (tests/bench/test_bench_smoke.py checks shapes).
"""
