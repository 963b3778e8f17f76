"""Tests of the format writers."""
