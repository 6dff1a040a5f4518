-- Issue 15 §2: per-host rate limits shared by every worker of every process (discovery, download).
-- One row per bucket: a configured host pattern ("youtube" for YouTube's hosts, or the pattern of
-- RATE_LIMIT_HOSTS) or, for a host without a limit, the host itself (it can still be blocked).
-- tokens: the token bucket's level at updated_at (refilled by the reader from the elapsed time;
--   may go below 0: a worker that takes a token it must wait for reserves a later slot).
-- blocked_until: set after a 429, YouTube's session rate limit or a bot check, for everyone.
CREATE TABLE IF NOT EXISTS host_rate_limits (
  bucket         text PRIMARY KEY,
  tokens         double precision NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  blocked_until  timestamptz,
  blocked_reason text,
  blocked_count  bigint NOT NULL DEFAULT 0,
  granted        bigint NOT NULL DEFAULT 0
);

-- Job-level warnings GET /jobs/{id} shows (issue 15 §2): e.g. "bot_check" when a host asked a
-- video of this job to confirm it is not a bot (cookies or a proxy are needed). Written by the
-- stages as they see it (an upsert: count and last_at grow), advisory, outside the pipeline's
-- state transitions.
CREATE TABLE IF NOT EXISTS job_warnings (
  job_id    uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  code      text NOT NULL,
  message   text NOT NULL,
  count     bigint NOT NULL DEFAULT 1,
  first_at  timestamptz NOT NULL DEFAULT now(),
  last_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, code)
);
