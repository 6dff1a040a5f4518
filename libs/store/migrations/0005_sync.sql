-- Issue 6 (captions first, incremental sync, channel digests).
-- jobs.digest_at: when the channel digest of a finished job was built (NULL: not yet); the
--   orchestrator's digest loop claims finished jobs without one (FOR UPDATE SKIP LOCKED).
-- videos.skip_reason: why a video ended `skipped` without running its stages, e.g.
--   "already processed" (incremental sync reused its stored transcript and summary).
ALTER TABLE jobs ADD COLUMN digest_at timestamptz;
ALTER TABLE videos ADD COLUMN skip_reason text;
CREATE INDEX jobs_digest_pending_idx ON jobs (finished_at) WHERE digest_at IS NULL;
