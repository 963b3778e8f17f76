"""Tests for reasonkit_export.crypto (age v1)."""
