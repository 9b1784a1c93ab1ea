"""Schema migrations with Alembic, one migration history per service.

A service's ``migrations/env.py`` is two lines: import its metadata and call ``run_env``.
``upgrade`` runs at start-up and from the ``migrate`` command; on PostgreSQL an advisory lock
makes concurrent instances take turns instead of racing.
"""
from __future__ import annotations

import zlib

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
    with db.writer.begin() as connection:
        if db.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": zlib.crc32(script_location.encode())})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(db, script_location: str, revision: str) -> None:
    config = _config(db, script_location)
    with db.writer.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


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
