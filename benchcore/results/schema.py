"""The results database's schema, written out, and the steps that upgrade older files to it.

Every change to a table or view below bumps SCHEMA_VERSION and adds MIGRATIONS[old version]: the
statements that turn a file of that version into the next one. RunRepository runs them, with the new
version number, in one transaction, so a file is either fully upgraded or left as it was.
tests/results/test_schema.py freezes the tables and upgrades a file written by version 1.

History:
  1  benchcore 0.1.0: meta(key, value); runs; results (trial 0 = pooled summary, 1..K = trials);
     sample_values(result_id, latency_ns) and the view samples(run_id, tier, mode, concurrency, trial,
     latency_ns). Timestamps are TIMESTAMP holding UTC.
  2  runs gains the workload fields the listing and Compare use: distribution, warmup, cold, seed and
     cache_capacity (NULL = the key space), filled for older runs from their stored spec JSON.
  3  benchcore 0.2: every read timed alone, hits split from misses, trials repeated and interleaved.
     results gains hit_ratio, hit_p50_us, hit_p99_us, miss_p50_us, miss_p99_us (cache tiers) and, on the
     pooled row (trial 0), p50_ci_low_us, p50_ci_high_us, cv_pct, unstable; from version 3 on that row's p50_us
     is the median of the trials' p50s. sample_values gains miss (NULL: not recorded, i.e. stored before 3);
     the samples view shows it. Older runs' specs get "interleave": false (their trials ran back to back).
  4  Load: results gains client_cpu_us_per_read, machine_cpu_pct and, for open-loop runs, target_rate,
     achieved_rate, late_reads, intended_p50_us, intended_p99_us, intended_p999_us; sample_values gains
     intended_ns (open loop: ns from the read's intended start to its end; NULL otherwise); a new table
     series(result_id, second, reads, p50_us, p99_us) holds each trial's per-second figures (seconds counted
     from the run's start).
  5  Load UI: series gains max_us (the slowest read of each second), intended_p99_us (open loop: the p99 of
     that second's latency from the intended start; NULL otherwise) and reads_per_s (the second's reads over the
     part of it the trial was running), all NULL for older rows.
  6  Caching: results gains hit_mean_us, miss_mean_us; for runs with writes writes, write_mean_us, write_p50_us,
     write_p99_us, stale_reads, stale_ratio, max_stale_age_ms; for the two-level tier l1_hits, l2_hits; and the
     model beside the measurement: predicted_hit_ratio, predicted_mean_us, predicted_stale_ratio. A new table
     instances(result_id, instance, host, pid, ops, writes, hits, misses, hit_ratio, l1_hits, l2_hits,
     stale_reads, ops_per_sec, rss_mb, cache_entries) holds each app instance of a several-instance run (keyed
     by the pooled result's id). The new spec fields (eviction, zipf_s, hot_fraction, hot_traffic, write_ratio,
     on_write, instances, scheduler) live in the spec JSON; older specs read them as their defaults, which is
     what those runs did.
"""

from __future__ import annotations

SCHEMA_VERSION = 6

META = "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"

_RUNS_COLUMNS_SQL = """
  run_id VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP NOT NULL,
  status VARCHAR NOT NULL,
  label VARCHAR NOT NULL,
  tiers VARCHAR NOT NULL,
  modes VARCHAR NOT NULL,
  ops BIGINT NOT NULL,
  concurrency BIGINT NOT NULL,
  trials BIGINT NOT NULL,
  keys BIGINT NOT NULL,
  machine VARCHAR NOT NULL,
  timer_overhead_ns DOUBLE,
  spec VARCHAR NOT NULL,
  environment VARCHAR NOT NULL,
  distribution VARCHAR NOT NULL,
  warmup BIGINT NOT NULL,
  cold BOOLEAN NOT NULL,
  seed BIGINT NOT NULL,
  cache_capacity BIGINT,
  PRIMARY KEY (run_id)
"""
RUNS = f"CREATE TABLE runs ({_RUNS_COLUMNS_SQL})"

RESULTS = """CREATE TABLE results (
  result_id BIGINT NOT NULL UNIQUE,
  run_id VARCHAR NOT NULL,
  tier VARCHAR NOT NULL,
  mode VARCHAR NOT NULL,
  concurrency BIGINT NOT NULL,
  trial BIGINT NOT NULL,
  status VARCHAR NOT NULL,
  error VARCHAR,
  description VARCHAR,
  ops BIGINT,
  errors BIGINT,
  hits BIGINT,
  misses BIGINT,
  mean_us DOUBLE,
  stddev_us DOUBLE,
  min_us DOUBLE,
  p50_us DOUBLE,
  p90_us DOUBLE,
  p99_us DOUBLE,
  p999_us DOUBLE,
  max_us DOUBLE,
  ops_per_sec DOUBLE,
  wall_s DOUBLE,
  server_kind VARCHAR,
  server_address VARCHAR,
  server_version VARCHAR,
  hit_ratio DOUBLE,
  hit_p50_us DOUBLE,
  hit_p99_us DOUBLE,
  miss_p50_us DOUBLE,
  miss_p99_us DOUBLE,
  p50_ci_low_us DOUBLE,
  p50_ci_high_us DOUBLE,
  cv_pct DOUBLE,
  unstable BOOLEAN,
  client_cpu_us_per_read DOUBLE,
  machine_cpu_pct DOUBLE,
  target_rate DOUBLE,
  achieved_rate DOUBLE,
  late_reads BIGINT,
  intended_p50_us DOUBLE,
  intended_p99_us DOUBLE,
  intended_p999_us DOUBLE,
  hit_mean_us DOUBLE,
  miss_mean_us DOUBLE,
  writes BIGINT,
  write_mean_us DOUBLE,
  write_p50_us DOUBLE,
  write_p99_us DOUBLE,
  stale_reads BIGINT,
  stale_ratio DOUBLE,
  max_stale_age_ms DOUBLE,
  l1_hits BIGINT,
  l2_hits BIGINT,
  predicted_hit_ratio DOUBLE,
  predicted_mean_us DOUBLE,
  predicted_stale_ratio DOUBLE,
  PRIMARY KEY (run_id, tier, mode, concurrency, trial)
)"""

# Samples are keyed by a small integer: a million VARCHAR keys per run cost ~3x the insert time.
SAMPLE_VALUES = ("CREATE TABLE sample_values (result_id BIGINT NOT NULL, latency_ns BIGINT NOT NULL, miss BOOLEAN, "
                 "intended_ns BIGINT)")

SERIES = ("CREATE TABLE series (result_id BIGINT NOT NULL, second BIGINT NOT NULL, reads BIGINT NOT NULL, "
          "p50_us DOUBLE, p99_us DOUBLE, max_us DOUBLE, intended_p99_us DOUBLE, reads_per_s DOUBLE)")

INSTANCES = """CREATE TABLE instances (
  result_id BIGINT NOT NULL,
  instance BIGINT NOT NULL,
  host VARCHAR NOT NULL,
  pid BIGINT NOT NULL,
  ops BIGINT NOT NULL,
  writes BIGINT NOT NULL,
  hits BIGINT,
  misses BIGINT,
  hit_ratio DOUBLE,
  l1_hits BIGINT,
  l2_hits BIGINT,
  stale_reads BIGINT,
  ops_per_sec DOUBLE,
  rss_mb DOUBLE,
  cache_entries BIGINT,
  PRIMARY KEY (result_id, instance)
)"""

SAMPLES_VIEW = """CREATE VIEW samples AS
  SELECT r.run_id, r.tier, r.mode, r.concurrency, r.trial, s.latency_ns, s.miss, s.intended_ns
  FROM sample_values s JOIN results r USING (result_id)"""

CREATE: tuple[str, ...] = (META, RUNS, RESULTS, SAMPLE_VALUES, SERIES, INSTANCES, SAMPLES_VIEW)

# Added by version 4, in this order.
LOAD_COLUMNS: tuple[str, ...] = ("client_cpu_us_per_read", "machine_cpu_pct", "target_rate", "achieved_rate",
                                 "late_reads", "intended_p50_us", "intended_p99_us", "intended_p999_us")

# Added by version 5, in this order.
CACHING_COLUMNS: tuple[str, ...] = (
    "hit_mean_us", "miss_mean_us", "writes", "write_mean_us", "write_p50_us", "write_p99_us", "stale_reads",
    "stale_ratio", "max_stale_age_ms", "l1_hits", "l2_hits", "predicted_hit_ratio", "predicted_mean_us",
    "predicted_stale_ratio",
)
INSTANCE_COLUMNS: tuple[str, ...] = ("result_id", "instance", "host", "pid", "ops", "writes", "hits", "misses",
                                     "hit_ratio", "l1_hits", "l2_hits", "stale_reads", "ops_per_sec", "rss_mb",
                                     "cache_entries")
# Column names as storage writes and reads them (always by name, never by position).
RUN_COLUMNS: tuple[str, ...] = (
    "run_id", "started_at", "finished_at", "status", "label", "tiers", "modes", "ops", "concurrency", "trials",
    "keys", "machine", "timer_overhead_ns", "spec", "environment", "distribution", "warmup", "cold", "seed",
    "cache_capacity",
)
RESULT_COLUMNS: tuple[str, ...] = (
    "result_id", "run_id", "tier", "mode", "concurrency", "trial", "status", "error", "description", "ops",
    "errors", "hits", "misses", "mean_us", "stddev_us", "min_us", "p50_us", "p90_us", "p99_us", "p999_us",
    "max_us", "ops_per_sec", "wall_s", "server_kind", "server_address", "server_version", "hit_ratio", "hit_p50_us",
    "hit_p99_us", "miss_p50_us", "miss_p99_us", "p50_ci_low_us", "p50_ci_high_us", "cv_pct", "unstable",
    *LOAD_COLUMNS, *CACHING_COLUMNS,
)
SAMPLE_COLUMNS: tuple[str, ...] = ("result_id", "latency_ns", "miss", "intended_ns")
SERIES_COLUMNS: tuple[str, ...] = ("result_id", "second", "reads", "p50_us", "p99_us", "max_us", "intended_p99_us",
                                   "reads_per_s")

# version v -> the statements that turn a version-v file into version v + 1. A step is history: it spells out
# what it creates (a later version that changes a table or view must not change an earlier step).
MIGRATIONS: dict[int, tuple[str, ...]] = {
    # DuckDB cannot add a NOT NULL column to a table with a primary key in one transaction
    # ("Cannot create index with outstanding updates"), so the table is rebuilt and renamed.
    # A spec without a field means RunSpec's default, as RunSpec.from_dict reads it.
    1: (
        f"CREATE TABLE runs_v2 ({_RUNS_COLUMNS_SQL})",  # runs has not changed since version 2
        """INSERT INTO runs_v2 (run_id, started_at, finished_at, status, label, tiers, modes, ops, concurrency,
                                trials, keys, machine, timer_overhead_ns, spec, environment, distribution, warmup,
                                cold, seed, cache_capacity)
           SELECT run_id, started_at, finished_at, status, label, tiers, modes, ops, concurrency, trials, keys,
                  machine, timer_overhead_ns, spec, environment,
                  coalesce(spec ->> '$.distribution', 'uniform'),
                  coalesce((spec ->> '$.warmup')::BIGINT, 200),
                  coalesce((spec ->> '$.cold')::BOOLEAN, false),
                  coalesce((spec ->> '$.seed')::BIGINT, 1),
                  (spec ->> '$.cache_capacity')::BIGINT
           FROM runs""",
        "DROP TABLE runs",
        "ALTER TABLE runs_v2 RENAME TO runs",
    ),
    # Nullable columns can be added in place; the view is rebuilt to show the new sample column.
    2: (
        *(f"ALTER TABLE results ADD COLUMN {name} DOUBLE" for name in (
            "hit_ratio", "hit_p50_us", "hit_p99_us", "miss_p50_us", "miss_p99_us", "p50_ci_low_us", "p50_ci_high_us",
            "cv_pct")),
        "ALTER TABLE results ADD COLUMN unstable BOOLEAN",
        "ALTER TABLE sample_values ADD COLUMN miss BOOLEAN",
        "DROP VIEW samples",
        # Written out as version 3 had it: a step must not change when a later version changes the view.
        """CREATE VIEW samples AS
  SELECT r.run_id, r.tier, r.mode, r.concurrency, r.trial, s.latency_ns, s.miss
  FROM sample_values s JOIN results r USING (result_id)""",
        """UPDATE runs SET spec = json_merge_patch(spec, '{"interleave": false}')
           WHERE spec ->> '$.interleave' IS NULL""",
    ),
    3: (
        *(f"ALTER TABLE results ADD COLUMN {name} {'BIGINT' if name == 'late_reads' else 'DOUBLE'}"
          for name in LOAD_COLUMNS),
        "ALTER TABLE sample_values ADD COLUMN intended_ns BIGINT",
        # Written out as version 4 had it (version 5 adds two columns).
        "CREATE TABLE series (result_id BIGINT NOT NULL, second BIGINT NOT NULL, reads BIGINT NOT NULL, "
        "p50_us DOUBLE, p99_us DOUBLE)",
        "DROP VIEW samples",
        SAMPLES_VIEW,
    ),
    4: (
        "ALTER TABLE series ADD COLUMN max_us DOUBLE",
        "ALTER TABLE series ADD COLUMN intended_p99_us DOUBLE",
        "ALTER TABLE series ADD COLUMN reads_per_s DOUBLE",
    ),
    # Written out: a later version that changes these tables must not change this step.
    5: (
        "ALTER TABLE results ADD COLUMN hit_mean_us DOUBLE",
        "ALTER TABLE results ADD COLUMN miss_mean_us DOUBLE",
        "ALTER TABLE results ADD COLUMN writes BIGINT",
        "ALTER TABLE results ADD COLUMN write_mean_us DOUBLE",
        "ALTER TABLE results ADD COLUMN write_p50_us DOUBLE",
        "ALTER TABLE results ADD COLUMN write_p99_us DOUBLE",
        "ALTER TABLE results ADD COLUMN stale_reads BIGINT",
        "ALTER TABLE results ADD COLUMN stale_ratio DOUBLE",
        "ALTER TABLE results ADD COLUMN max_stale_age_ms DOUBLE",
        "ALTER TABLE results ADD COLUMN l1_hits BIGINT",
        "ALTER TABLE results ADD COLUMN l2_hits BIGINT",
        "ALTER TABLE results ADD COLUMN predicted_hit_ratio DOUBLE",
        "ALTER TABLE results ADD COLUMN predicted_mean_us DOUBLE",
        "ALTER TABLE results ADD COLUMN predicted_stale_ratio DOUBLE",
        """CREATE TABLE instances (
  result_id BIGINT NOT NULL,
  instance BIGINT NOT NULL,
  host VARCHAR NOT NULL,
  pid BIGINT NOT NULL,
  ops BIGINT NOT NULL,
  writes BIGINT NOT NULL,
  hits BIGINT,
  misses BIGINT,
  hit_ratio DOUBLE,
  l1_hits BIGINT,
  l2_hits BIGINT,
  stale_reads BIGINT,
  ops_per_sec DOUBLE,
  rss_mb DOUBLE,
  cache_entries BIGINT,
  PRIMARY KEY (result_id, instance)
)""",
    ),
}
