"""Alembic's migrations for `bot.store.postgres`, applied when the store opens.

Alembic is configured from `bot.store.postgres` (no alembic.ini). To add a
revision, copy the newest file in `versions/` with `down_revision` set to its
`revision`, and keep the tables in `bot/store/postgres.py` in step: a test
compares the migrated schema with them.
"""
