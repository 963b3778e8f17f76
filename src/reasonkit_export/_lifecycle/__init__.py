"""The collaborators behind :class:`~reasonkit_export.ExportService`, one per concern.

``ExportService`` (in :mod:`reasonkit_export._service`) is the one public
front door; it builds these and delegates every call. Each module owns one
concern, and the arrows run one way (no module here imports a later one)::

    _context      shared state: repositories, storage, notifier, config, clock,
                  keys; the fenced state change and attempt clean-up
    _retry        the one bounded retry-on-conflict loop
    _outbox       the notification outbox: send the queued event, clear it
    _expiry       deadlines (Art. 12(3) extension, overdue) and expiry
    _downloads    downloads and signed download tokens
    _deliveries   delivery steps after completion, their recorded results
    _cleanup      the deletion outbox and the sweep's agenda (sweep_at)
    _requests     requests and limits: create, look up, history, cancel
    _worker       claiming, building, finishing, giving up, crash recovery
    _schedules    recurring exports: CRUD and running the due ones
"""
