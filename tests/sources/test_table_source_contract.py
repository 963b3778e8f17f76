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

from reasonkit_export.sources.sql import TableSource, discover_sources


@pytest.fixture(scope="module")
def app(module_engine: sa.Engine) -> sa.Engine:
    """The test schema with its rows on the backend under test (the suites only read)."""
    populate(module_engine, build_metadata())
    return module_engine


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


def _discovered(engine: sa.Engine, table: str) -> TableSource:
    (source,) = [s for s in discover_sources(engine, "users", chunk_size=1) if s.category == table]
    return source


@pytest.mark.parametrize("table", ["users", "follows", "refunds", "folders"])
class TestDiscoveredTableSource(DataSourceContract):
    """Discovered sources honour it: the root row, two owners, a chain of three, a tree."""

    @pytest.fixture
    def source(self, app: sa.Engine, table: str) -> TableSource:
        """The discovered source of ``table``."""
        return _discovered(app, table)

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has rows in every one of these tables."""
        return str(ALICE)
