"""Artifact storage: one fsspec-backed implementation for every backend."""

from __future__ import annotations

from reasonkit_export.storage._fsspec import FsspecStorage, validate_key

__all__ = ["FsspecStorage", "validate_key"]
