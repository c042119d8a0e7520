"""Running a benchmark: the session (servers, environment, CPU pinning), the engine's lifecycle, the timed loops."""
