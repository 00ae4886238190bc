"""Persistence: SQLModel models, engine and sessions, repositories, migrations."""
