"""What a run produced: statistics, the stored format (DuckDB schema, spool, JSON) and DataFrames of it."""
