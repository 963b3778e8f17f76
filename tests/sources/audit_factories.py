"""Source factories for the ``reasonkit-export audit`` tests (database URL from the environment)."""

from __future__ import annotations

import os

import sqlalchemy

from reasonkit_export.sources.sql import TableSource, discover_sources

URL_VARIABLE = "RK_TEST_AUDIT_URL"


def _engine() -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(os.environ[URL_VARIABLE])


def everything() -> list[TableSource]:
    """Every table discovery finds (api_keys left out; the audit ignores it)."""
    return discover_sources(_engine(), "users", exclude=("api_keys",))


def without_sessions() -> list[TableSource]:
    """Discovery with the sessions table forgotten."""
    return [s for s in everything() if s.category != "sessions"]
