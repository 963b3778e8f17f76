"""Registered data sources: which optional features each one offers, checked once.

Owns :class:`RegisteredSource`. The service builds one per source when it is
registered, from the named protocols in :mod:`reasonkit_export.protocols`
(:class:`~reasonkit_export.protocols.CountingSource`,
:class:`~reasonkit_export.protocols.DescribedSource`,
:class:`~reasonkit_export.protocols.IncrementalSource`,
:class:`~reasonkit_export.protocols.RedactingSource`); the build then uses
what was found instead of probing the source again.
"""

from __future__ import annotations

import attrs

from reasonkit_export.protocols import (
    CountingSource,
    DataSource,
    DescribedSource,
    ExcludingSource,
    IncrementalSource,
    RedactingSource,
)

__all__ = ["RegisteredSource"]


@attrs.frozen(kw_only=True)
class RegisteredSource:
    """A data source and the optional features it has (each None when absent).

    Attributes:
        source: the source as registered.
        counting: the source, if it can count its records (progress hint).
        described: the source, if it describes its category (Art. 15(1)).
        incremental: the source, if it declares ``supports_since = True``.
        redacting: the source, if it redacts its own records (Art. 15(4)).
        excluded_fields: the fields the source declares it left out on purpose.
    """

    source: DataSource
    counting: CountingSource | None = None
    described: DescribedSource | None = None
    incremental: IncrementalSource | None = None
    redacting: RedactingSource | None = None
    excluded_fields: tuple[str, ...] = ()

    @classmethod
    def check(cls, source: DataSource) -> RegisteredSource:
        """Find which optional features ``source`` offers."""
        return cls(
            source=source,
            counting=(
                source if isinstance(source, CountingSource) and callable(source.count) else None
            ),
            described=source if isinstance(source, DescribedSource) else None,
            incremental=(
                source
                if isinstance(source, IncrementalSource) and source.supports_since is True
                else None
            ),
            redacting=source if isinstance(source, RedactingSource) else None,
            excluded_fields=(
                tuple(str(name) for name in source.excluded_fields)
                if isinstance(source, ExcludingSource)
                and not isinstance(source.excluded_fields, str)
                else ()
            ),
        )


def _excluded(source: DataSource) -> tuple[str, ...]:
    """The fields ``source`` declares it left out, or none."""
    if not isinstance(source, ExcludingSource) or isinstance(source.excluded_fields, str):
        return ()
    return tuple(str(name) for name in source.excluded_fields)
