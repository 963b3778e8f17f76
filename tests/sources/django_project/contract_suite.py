"""DataSourceContract over ModelSource, and the CSV of an empty model, inside a configured Django.

Not collected by the main test run (the name does not start with ``test_``):
``tests/sources/test_django.py`` runs it with pytest in a child process per
database, because Django's settings are configured once per process. The
database comes from ``RK_DJANGO_BACKEND`` (``sqlite``, ``postgres``,
``mariadb``) and ``RK_DJANGO_WHERE`` (a file, a schema, a database), as for
:mod:`tests.sources.django_project.run`.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from tests.sources.django_project import run

run.configure(os.environ["RK_DJANGO_BACKEND"], os.environ["RK_DJANGO_WHERE"])

from django.contrib.auth import get_user_model  # noqa: E402 - needs the settings above

from reasonkit_export import ExportConfig, ExportService  # noqa: E402
from reasonkit_export.sources.django import ModelSource, discover_model_sources  # noqa: E402
from reasonkit_export.testing import DataSourceContract  # noqa: E402
from tests.sources.django_project.shop import models as m  # noqa: E402

ALICE, CAROL = "1", "3"


@pytest.fixture(scope="session", autouse=True)
def _data() -> None:
    """The shop's tables with the three users' rows, created once (the tests only read)."""
    run.populate()


def _discovered(category: str) -> ModelSource:
    sources = discover_model_sources(get_user_model(), exclude=("shop_apikey",), chunk_size=1)
    (source,) = [s for s in sources if s.category == category]
    return source


class TestPlainModelSource(DataSourceContract):
    """A ModelSource with defaults honours the data-source contract."""

    @pytest.fixture
    def source(self) -> ModelSource:
        """Alice's posts, every field, one row per round trip."""
        return ModelSource(m.Post, user_field="author", chunk_size=1)

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has a post."""
        return ALICE


class TestShapedModelSource(DataSourceContract):
    """A ModelSource with since, excluded fields and a description honours it too."""

    @pytest.fixture
    def source(self) -> ModelSource:
        """Alice's posts without their title, incremental on created_at, described."""
        return ModelSource(
            m.Post,
            user_field="author",
            category="my_posts",
            exclude_fields=["title"],
            since_field="created_at",
            description={"purposes": ["Publishing what you wrote"]},
        )

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has a post."""
        return ALICE


@pytest.mark.parametrize(
    "category", ["auth.user", "shop.follow", "shop.invoice", "shop.folder", "shop.post_tags"]
)
class TestDiscoveredModelSource(DataSourceContract):
    """Discovered sources honour it: the user, two owners, a chain, a tree, a M2M through table."""

    @pytest.fixture
    def source(self, category: str) -> ModelSource:
        """The discovered source of ``category``."""
        return _discovered(category)

    @pytest.fixture
    def user_id(self) -> str:
        """Alice has rows in every one of these models."""
        return ALICE


def test_runs_on_the_database_asked_for() -> None:
    """The suite runs on the requested database, not on a fallback."""
    from django.db import connection

    vendors = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mariadb": "MariaDB"}
    assert connection.display_name == vendors[os.environ["RK_DJANGO_BACKEND"]]


def test_empty_model_still_has_its_fields_as_csv_header() -> None:
    """A user with no rows of a model gets a CSV whose header is the exported fields."""
    pandas = pytest.importorskip("pandas")
    posts = ModelSource(m.Post, user_field="author", exclude_fields=["title"])
    assert posts.count(CAROL) == 0
    config = ExportConfig(storage_backend="memory", compression_enabled=False)
    service = ExportService(sources=[posts], config=config)
    job = service.process_export(service.create_export(CAROL, "csv", ["shop.post"]).id)
    assert job.status == "completed", job.error
    with service.open_download(job.id, user_id=CAROL) as download:
        frame: Any = pandas.read_csv(io.BytesIO(download.read()), encoding="utf-8-sig")
    assert list(frame.columns) == ["id", "author_id", "created_at"]
    assert len(frame) == 0
