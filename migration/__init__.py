"""Moving businesses from the legacy bot platform (one process and SQLite file per bot)."""
