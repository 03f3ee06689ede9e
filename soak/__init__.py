"""The seeded fault soak of the whole application against sigma9-sim (docs/reliability.md)."""
