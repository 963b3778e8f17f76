"""Ready-made data sources: SQL tables and Django models, found by following foreign keys.

* :mod:`reasonkit_export.sources.sql` (extra ``sql``): :class:`~.sql.TableSource`
  streams one table's rows for a user; :func:`~.sql.discover_sources` reflects
  the schema and builds one source per table reachable from the user's row;
  :func:`~.sql.audit_coverage` says which tables that reference the user no
  source covers.
* :mod:`reasonkit_export.sources.django` (needs Django):
  :class:`~.django.ModelSource` and :func:`~.django.discover_model_sources`
  do the same over Django's model graph.

Importing this package imports neither SQLAlchemy nor Django.
"""

from __future__ import annotations

__all__: list[str] = []
