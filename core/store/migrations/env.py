"""Alembic environment of the run store.

Driven programmatically by ``core.store.engine.upgrade`` (no alembic.ini): the caller
passes an open SQLAlchemy connection in ``config.attributes["connection"]``. For manual
use (``alembic -c core/store/alembic.ini upgrade head``) the URL comes from
``sqlalchemy.url`` or ``LAB_DATABASE_URL``.
"""
from __future__ import annotations

from alembic import context

from core.store.schema import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    import sqlalchemy as sa

    from core.config import get_settings

    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
