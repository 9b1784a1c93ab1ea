"""Schema migrations with Alembic, one migration history per service.

A service's ``migrations/env.py`` is two lines: import its metadata and call ``run_env``.
``upgrade`` runs at start-up and from the ``migrate`` command; on PostgreSQL an advisory lock
makes concurrent instances take turns instead of racing.
"""
from __future__ import annotations

import zlib
from contextlib import contextmanager

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, engine_from_config, pool, text


def _config(db, script_location: str) -> Config:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", db.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(db, script_location: str, revision: str = "head") -> None:
    config = _config(db, script_location)
    with _migrating(db) as connection:
        if db.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": zlib.crc32(script_location.encode())})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db, script_location: str, revision: str) -> None:
    config = _config(db, script_location)
    with _migrating(db) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


@contextmanager
def _migrating(db):
    """One transaction for the whole migration.

    Altering a table on SQLite means rebuilding it, which the foreign keys of other tables to it
    refuse. SQLite ignores the pragma that turns them off inside a transaction, so it is set
    before BEGIN, and every foreign key is checked before the migration commits.
    """
    with db.writer.connect() as connection:
        sqlite = db.dialect == "sqlite"
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows whose foreign keys point nowhere")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def run_env(metadata: MetaData) -> None:
    """The body of every service's Alembic ``env.py``."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:  # the alembic command line: connect from the configured URL
        engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                    poolclass=pool.NullPool)
        with engine.begin() as connection:
            _run(connection, metadata)
    else:
        _run(connection, metadata)


def _run(connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
