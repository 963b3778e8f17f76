"""Deliveries: hand a completed export to another controller (GDPR Art. 20(2)).

After an export completed and its notification went out, the service calls
each configured :class:`Delivery` and records the result (or the failure) on
the job; a failed delivery never fails or loses the export.

* :class:`WebhookDelivery` POSTs a signed ``export.completed`` event with the
  download link (never the data) to another controller's endpoint;
  signed as Standard Webhooks; receivers check it with
  :func:`verify_webhook_signature` or any Standard Webhooks library.
* :class:`StorageCopyDelivery` streams the artifact itself to a storage URL
  (S3, a mounted share, ...), atomically and checked against its SHA-256.
* :class:`DestinationPolicy` is the allow-list for destinations a user may
  name (protocols, hosts or buckets, public addresses only, checked at
  connect time).
* :class:`NotifierDelivery` sends one more completion message through a
  :class:`~reasonkit_export.protocols.Notifier`.
"""

from __future__ import annotations

from reasonkit_export.delivery._base import Delivery, DeliveryError
from reasonkit_export.delivery._copy import StorageCopyDelivery
from reasonkit_export.delivery._notify import NotifierDelivery
from reasonkit_export.delivery._policy import DestinationPolicy, public_address
from reasonkit_export.delivery._webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDelivery,
    sign_webhook,
    standard_webhooks_secret,
    verify_webhook_signature,
)

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "Delivery",
    "DeliveryError",
    "DestinationPolicy",
    "NotifierDelivery",
    "StorageCopyDelivery",
    "WebhookDelivery",
    "public_address",
    "sign_webhook",
    "standard_webhooks_secret",
    "verify_webhook_signature",
]
