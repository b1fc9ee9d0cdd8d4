"""Benchmarks and the sync simulator (a package so tests can import ``benchmarks.syncsim``)."""
