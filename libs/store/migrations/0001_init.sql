-- Channel Summarizer: jobs, videos and the transactional outbox.
-- PostgreSQL is the source of truth for progress; documents (transcripts, summaries) live in the
-- document store keyed by video id.

CREATE TABLE jobs (
  id            uuid PRIMARY KEY,
  channel       text NOT NULL,                 -- as submitted
  channel_url   text NOT NULL,                 -- normalized URL handed to yt-dlp
  options       jsonb NOT NULL DEFAULT '{}',   -- {"max_videos": N, ...}
  state         text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'completed', 'completed_with_errors',
                                 'failed', 'cancelled')),
  error         text,
  error_class   text,
  video_count   integer,                       -- set by discovery
  trace_id      text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);

CREATE TABLE videos (
  job_id            uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  video_id          text NOT NULL,
  position          integer NOT NULL,          -- order in the channel listing
  title             text,
  url               text NOT NULL,
  duration_s        double precision,
  published_at      timestamptz,
  stage             text NOT NULL DEFAULT 'download'
                    CHECK (stage IN ('download', 'audio_extraction', 'transcription',
                                     'summarization')),
  state             text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
  attempts          integer NOT NULL DEFAULT 0, -- tries of the current stage
  last_error        text,
  error_class       text,
  media_path        text,
  audio_path        text,
  timings           jsonb NOT NULL DEFAULT '{}', -- {"download": {"started_at", "finished_at", "ms"}, ...}
  lease_owner       text,
  lease_expires_at  timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz,
  PRIMARY KEY (job_id, video_id)
);
CREATE INDEX videos_job_state_idx ON videos (job_id, state);
CREATE INDEX videos_lease_idx ON videos (lease_expires_at) WHERE state = 'running';

-- Transactional outbox: rows are written in the same transaction as the state change that causes
-- them; a relay publishes them (RabbitMQ with confirms, Kafka with delivery reports) and only then
-- sets published_at.
CREATE TABLE outbox (
  id            bigserial PRIMARY KEY,
  destination   text NOT NULL CHECK (destination IN ('amqp', 'kafka')),
  exchange      text NOT NULL DEFAULT '',      -- amqp exchange ('' = default) or kafka topic
  routing_key   text NOT NULL,                 -- amqp routing key (queue) or kafka key
  message_id    text NOT NULL,
  headers       jsonb NOT NULL DEFAULT '{}',
  expiration_ms integer,                       -- amqp per-message TTL (delayed retries)
  payload       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  published_at  timestamptz,
  publish_attempts integer NOT NULL DEFAULT 0,
  last_error    text
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
