"""Deliveries: the steps run after an export completes (webhook, copy, e-mail).

Owns: checking the configured deliveries once (each a
:class:`~reasonkit_export.delivery.Delivery`, names unique), running every
delivery without a recorded result, and recording each outcome in
``ExportJob.delivery_results``. A failing delivery never fails or loses the
export; the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from reasonkit_export._builder import describe_failure
from reasonkit_export._lifecycle._context import ServiceContext
from reasonkit_export._lifecycle._downloads import Downloads
from reasonkit_export._lifecycle._retry import retry_on_conflict
from reasonkit_export._models import ExportJob, ExportStatus
from reasonkit_export.delivery._base import Delivery
from reasonkit_export.exceptions import InvalidRequest

__all__ = ["DeliveryRunner", "check_deliveries"]

logger = logging.getLogger("reasonkit_export")


def check_deliveries(deliveries: Sequence[Delivery]) -> tuple[Delivery, ...]:
    """The deliveries as a tuple, after checking each is a Delivery with a unique name."""
    names: set[str] = set()
    for delivery in deliveries:
        if not isinstance(delivery, Delivery):
            raise InvalidRequest(f"{type(delivery).__name__} is not a Delivery")
        if delivery.name in names:
            raise InvalidRequest(f"two deliveries are named {delivery.name!r}")
        names.add(delivery.name)
    return tuple(deliveries)


class DeliveryRunner:
    """Runs the service's deliveries on completed jobs and records their results."""

    def __init__(self, ctx: ServiceContext, downloads: Downloads) -> None:
        self._ctx = ctx
        self._downloads = downloads

    def undelivered(self, job: ExportJob) -> bool:
        """Whether ``job`` completed and some delivery has no recorded result."""
        return job.status is ExportStatus.COMPLETED and any(
            d.name not in job.delivery_results for d in self._ctx.deliveries
        )

    def run(self, job: ExportJob) -> ExportJob:
        """Run every delivery without a recorded result; record each outcome."""
        if job.status is not ExportStatus.COMPLETED:
            return job
        results: dict[str, str] = {}
        for delivery in self._ctx.deliveries:
            if delivery.name in job.delivery_results:
                continue
            try:
                detail = delivery.deliver(
                    job,
                    lambda part=None: self._downloads.open(job, part),  # type: ignore[misc]
                )
                results[delivery.name] = f"ok: {detail}"[:500]
            except Exception as exc:
                logger.warning(
                    "export %s: delivery %s failed (%s)",
                    job.id,
                    delivery.name,
                    type(exc).__name__,
                    exc_info=exc,
                )
                results[delivery.name] = f"failed: {describe_failure(exc)}"[:500]
        if not results:
            return job

        def record(current: ExportJob) -> ExportJob:
            return self._ctx.repository.save(
                attrs.evolve(current, delivery_results={**current.delivery_results, **results})
            )

        return retry_on_conflict(
            record, load=lambda: self._ctx.repository.get(job.id), record_id=job.id, first=job
        )
