"""The journal's schema, as migrations: each is applied once, in order, in one transaction.

``PRAGMA user_version`` holds how many have been applied; a journal from a newer Sigma9
(a higher number) is refused rather than misread (``Journal._migrate``).
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: initial schema
        """CREATE TABLE signals (
            signal_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, action TEXT NOT NULL,
            reference_price TEXT NOT NULL, atr TEXT NOT NULL, timestamp TEXT NOT NULL,
            reason TEXT NOT NULL, score REAL NOT NULL,
            outcome TEXT NOT NULL, outcome_reason TEXT NOT NULL,
            duplicates INTEGER NOT NULL DEFAULT 0,
            recorded_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
        """CREATE TABLE orders (
            order_id TEXT PRIMARY KEY, symbol TEXT NOT NULL, side TEXT NOT NULL,
            order_type TEXT NOT NULL, quantity INTEGER NOT NULL, status TEXT NOT NULL,
            role TEXT NOT NULL, filled INTEGER NOT NULL, avg_fill_price TEXT,
            limit_price TEXT, stop_price TEXT, trail_amount TEXT, parent_id TEXT NOT NULL,
            oca_group TEXT NOT NULL, signal_id TEXT NOT NULL, broker_status TEXT NOT NULL,
            message TEXT NOT NULL, updated_at TEXT)""",
        "CREATE INDEX orders_by_signal ON orders (signal_id)",
        """CREATE TABLE status_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, old TEXT,
            new TEXT NOT NULL, broker_status TEXT NOT NULL, message TEXT NOT NULL,
            at TEXT NOT NULL)""",
        "CREATE INDEX status_changes_by_order ON status_changes (order_id)",
        """CREATE TABLE fills (
            exec_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, symbol TEXT NOT NULL,
            side TEXT NOT NULL, quantity INTEGER NOT NULL, price TEXT NOT NULL,
            time TEXT NOT NULL, commission TEXT NOT NULL, realized_pnl TEXT)""",
        "CREATE INDEX fills_by_order ON fills (order_id)",
        "CREATE INDEX fills_by_symbol ON fills (symbol)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
            payload TEXT NOT NULL, at TEXT NOT NULL)""",
        "CREATE INDEX events_by_kind ON events (kind)",
    ),
    (  # 2: IB's permanent id, the key of orders IB reports without an orderId
        "ALTER TABLE orders ADD COLUMN perm_id INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
