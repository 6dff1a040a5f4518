-- Issue 15 §1 and §3: subscriptions follow a channel over time.
-- subscriptions: one followed channel. `options` holds the job filters every check uses
--   (max_videos, published_after = the `since` of creation, max_duration_s) and the retention
--   setting keep_days. The scheduler claims due rows (next_check_at <= now(), not paused) with
--   FOR UPDATE SKIP LOCKED and moves next_check_at to now() + every_s in the same transaction, so
--   several orchestrators never fire one check twice and a check missed while everything was
--   down runs once, not once per missed interval.
-- subscription_checks: one row per check. Its job (the discovery that lists the channel) is
--   provisional: when discovery finds no video that was not processed before, the job is deleted
--   in discovery's transaction (job_id becomes NULL) and the check ends `no_new_videos`; otherwise
--   the job is kept and the check ends `job_started` with the number of new videos; a discovery
--   that fails leaves its failed job and the check `failed` with the error.
CREATE TABLE subscriptions (
  id            uuid PRIMARY KEY,
  channel       text NOT NULL,
  channel_url   text NOT NULL,
  every_s       integer NOT NULL CHECK (every_s >= 1),
  options       jsonb NOT NULL DEFAULT '{}',
  paused        boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  next_check_at timestamptz NOT NULL DEFAULT now(),
  last_check_at timestamptz,
  checks        integer NOT NULL DEFAULT 0,
  -- The QUEUE_PREFIX of the orchestrator that created it: only orchestrators of that deployment
  -- check it (deployments, e.g. test runs, may share one database).
  queue_prefix  text NOT NULL DEFAULT ''
);
CREATE INDEX subscriptions_due_idx ON subscriptions (next_check_at) WHERE NOT paused;
-- One subscription per channel (POST /subscriptions answers 409 with the existing one).
CREATE UNIQUE INDEX subscriptions_channel_url_idx ON subscriptions (channel_url);
CREATE INDEX subscriptions_created_idx ON subscriptions (created_at DESC, id DESC);

CREATE TABLE subscription_checks (
  id              uuid PRIMARY KEY,
  subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  job_id          uuid REFERENCES jobs (id) ON DELETE SET NULL,
  checked_by      text NOT NULL,
  state           text NOT NULL DEFAULT 'running'
                  CHECK (state IN ('running', 'no_new_videos', 'job_started', 'failed')),
  new_videos      integer,
  error           text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX subscription_checks_sub_idx ON subscription_checks (subscription_id, started_at DESC);
CREATE INDEX subscription_checks_job_idx ON subscription_checks (job_id) WHERE job_id IS NOT NULL;

-- §3 retention: a subscription with options.keep_days has the transcripts and summaries of its
-- videos deleted keep_days after the job that processed them finished, unless another job that
-- is not expiring (an ordinary job, or a later check's job) still lists the video. The rows are
-- kept; documents_deleted_at says their documents are gone.
ALTER TABLE videos ADD COLUMN documents_deleted_at timestamptz;
