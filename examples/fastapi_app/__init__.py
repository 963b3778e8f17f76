"""A small FastAPI + RQ application serving GDPR exports with reasonkit_export.

``app.py`` is the web process, ``worker.py`` the RQ job function, ``sources.py``
the data sources and ``settings.py`` the shared configuration. Run it with
``uvicorn examples.fastapi_app.app:app`` and ``rq worker exports``; see
``docs/integration.md``.
"""
