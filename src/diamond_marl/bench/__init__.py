"""Benchmarks: sweeps over env x algo x breaker x seeds, statistics, tables and plots."""
