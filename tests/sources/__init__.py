"""Tests of the ready-made SQL and Django data sources and the coverage audit."""
