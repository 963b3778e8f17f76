"""TableSource passes the public DataSourceContract on every database backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from reasonkit_export.testing import DataSourceContract
from tests.sources.schema import ALICE, build_metadata, populate

if TYPE_CHECKING:
    import sqlalchemy as sa
else:
    sa = pytest.importorskip("sqlalchemy")

from reasonkit_export.sources.sql import TableSource


@pytest.fixture
def app(engine: sa.Engine) -> sa.Engine:
    """The test schema with its rows on the backend under test."""
    populate(engine, build_metadata())
    return engine


class TestPlainTableSource(DataSourceContract):
    """A TableSource with defaults honours the data-source contract."""

    @pytest.fixture
    def source(self, app: sa.Engine) -> TableSource:
        """Alice's posts, every column."""
        return TableSource(app, "posts", user_column="author_id", chunk_size=1)

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has two posts."""
        return str(ALICE)


class TestShapedTableSource(DataSourceContract):
    """A TableSource with since, excluded columns and a description honours it too."""

    @pytest.fixture
    def source(self, app: sa.Engine) -> TableSource:
        """Alice's posts without their body, incremental on created_at, described."""
        return TableSource(
            app,
            "posts",
            user_column="author_id",
            category="my_posts",
            exclude_columns=["body"],
            since_column="created_at",
            description={"purposes": ["Publishing what you wrote"]},
        )

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has two posts."""
        return str(ALICE)
