-- Analytics schema (services/analytics). Versions start at 1001 so they never collide with
-- libs/store's migrations (0001...) in the shared schema_migrations table.

-- Every applied event, once: the primary key is the idempotency guard.
CREATE TABLE analytics_events (
  event_id        uuid PRIMARY KEY,
  type            text NOT NULL,
  job_id          uuid NOT NULL,
  video_id        text,
  occurred_at     timestamptz NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  trace_id        text,
  kafka_topic     text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset    bigint NOT NULL,
  payload         jsonb NOT NULL
);
CREATE INDEX analytics_events_job ON analytics_events (job_id, occurred_at);

-- Event counts by type; scope = 'overall' or a job id (lower-case text).
CREATE TABLE analytics_counts (
  scope text NOT NULL,
  type  text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (scope, type)
);

-- One row per stage-completion event: percentiles are computed at query time (percentile_cont).
CREATE TABLE analytics_stage_durations (
  event_id    uuid PRIMARY KEY REFERENCES analytics_events (event_id),
  job_id      uuid NOT NULL,
  stage       text NOT NULL,
  duration_ms bigint NOT NULL,
  occurred_at timestamptz NOT NULL
);
CREATE INDEX analytics_stage_durations_job ON analytics_stage_durations (job_id, stage);
CREATE INDEX analytics_stage_durations_stage ON analytics_stage_durations (stage);

-- video.failed counts by stage, error class and error code.
CREATE TABLE analytics_failures (
  scope       text NOT NULL,
  stage       text NOT NULL,
  error_class text NOT NULL,
  error_code  text NOT NULL,
  count       bigint NOT NULL,
  PRIMARY KEY (scope, stage, error_class, error_code)
);

-- Videos finished (summarization.completed = done, video.failed = failed) per minute of
-- occurred_at.
CREATE TABLE analytics_finished_per_minute (
  scope  text NOT NULL,
  minute timestamptz NOT NULL,
  done   bigint NOT NULL DEFAULT 0,
  failed bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, minute)
);

-- The outcome of every job.completed (the latest one wins if a job reports twice).
CREATE TABLE analytics_jobs (
  job_id       uuid PRIMARY KEY,
  state        text NOT NULL,
  video_count  bigint NOT NULL,
  done         bigint NOT NULL,
  failed       bigint NOT NULL,
  duration_ms  bigint NOT NULL,
  completed_at timestamptz NOT NULL,
  event_id     uuid NOT NULL
);
CREATE INDEX analytics_jobs_state ON analytics_jobs (state);

-- Records that could not be applied: the raw bytes and why. One row per Kafka record.
CREATE TABLE analytics_rejects (
  id              bigserial PRIMARY KEY,
  kafka_topic     text NOT NULL,
  kafka_partition integer NOT NULL,
  kafka_offset    bigint NOT NULL,
  kafka_key       bytea,
  payload         bytea NOT NULL,
  reason          text NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
