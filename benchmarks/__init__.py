"""Benchmarks of benchcore itself (fidelity, native tools, scale, CPU placement); not part of the test suite."""
