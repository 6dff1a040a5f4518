-- Cheap polling of GET /jobs/{id} (issue 14): the orchestrator answers `If-None-Match` with 304
-- from memory, from a per-job version it keeps current by following job_changes. Two things make
-- that exact:
--
-- 1. job_changes.xid: the top-level transaction that wrote the row. seq is drawn at insert time,
--    not at commit, so a row with a lower seq can commit after one with a higher seq; following the
--    table "by seq" would skip it. Following it by snapshots is exact instead: the rows visible in
--    snapshot B but not in an earlier snapshot A are those whose xid A saw as running or not yet
--    started (xid >= xmax(A) or xid in xip(A)).
--
-- 2. Every transaction that changes anything GET /jobs/{id} shows writes at least one job_changes
--    row for that job. The triggers of 0004/0011 fire only on state, stage, attempts, last_error,
--    skip_reason and video_count; timings, updated_at, finished_at, title, ... can change alone
--    (e.g. skipped stages recorded in timings, a redelivered discovery touching updated_at). For
--    those the triggers now write a row only when the transaction has none for the job yet, so the
--    live stream's events stay one per state change. A deleted job or video writes a row too.
--
-- The version of a job's view is then (count(*), sum(seq)) of its job_changes rows as one snapshot
-- sees them: it changes whenever a row commits (rows are only ever added, or deleted by retention
-- when more than a day old, so an added row always moves the sum up).
--
-- Rows written before this migration keep xid NULL (no table rewrite): the ALTER waits for every
-- transaction that wrote one, so they are all committed, visible to every snapshot the feed
-- takes, and never "new" to it.
ALTER TABLE job_changes ADD COLUMN xid xid8;
ALTER TABLE job_changes ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX job_changes_xid_idx ON job_changes (xid);

-- True when this transaction already wrote a change row for the job.
CREATE FUNCTION chansum_job_changed_here(job uuid) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
  SELECT EXISTS (SELECT 1 FROM job_changes WHERE xid = pg_current_xact_id() AND job_id = job)
$$;

CREATE OR REPLACE FUNCTION chansum_job_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO job_changes (job_id, kind, payload) VALUES (OLD.id, 'job', jsonb_build_object(
      'job_id', OLD.id::text, 'state', 'deleted', 'video_count', OLD.video_count,
      'error', NULL, 'error_class', NULL, 'finished_at', chansum_utc_text(OLD.finished_at),
      'updated_at', chansum_utc_text(now())));
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state
     AND OLD.video_count IS NOT DISTINCT FROM NEW.video_count THEN
    -- Not a state change: a row only if a field of the view changed and none was written yet.
    IF (OLD.channel, OLD.channel_url, OLD.options, OLD.error, OLD.error_class, OLD.trace_id,
        OLD.created_at, OLD.started_at, OLD.finished_at, OLD.updated_at)
       IS NOT DISTINCT FROM
       (NEW.channel, NEW.channel_url, NEW.options, NEW.error, NEW.error_class, NEW.trace_id,
        NEW.created_at, NEW.started_at, NEW.finished_at, NEW.updated_at)
       OR chansum_job_changed_here(NEW.id) THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO job_changes (job_id, kind, payload) VALUES (NEW.id, 'job', jsonb_build_object(
    'job_id', NEW.id::text, 'state', NEW.state, 'video_count', NEW.video_count,
    'error', NEW.error, 'error_class', NEW.error_class,
    'finished_at', chansum_utc_text(NEW.finished_at),
    'updated_at', chansum_utc_text(NEW.updated_at)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION chansum_video_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF NOT chansum_job_changed_here(OLD.job_id) THEN
      INSERT INTO job_changes (job_id, kind, payload) VALUES (OLD.job_id, 'video',
        jsonb_build_object('job_id', OLD.job_id::text, 'video_id', OLD.video_id,
                           'title', OLD.title, 'stage', OLD.stage, 'state', 'deleted',
                           'updated_at', chansum_utc_text(now())));
    END IF;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state
     AND OLD.stage IS NOT DISTINCT FROM NEW.stage
     AND OLD.attempts IS NOT DISTINCT FROM NEW.attempts
     AND OLD.last_error IS NOT DISTINCT FROM NEW.last_error
     AND OLD.skip_reason IS NOT DISTINCT FROM NEW.skip_reason THEN
    -- Not a state change: a row only if a field of the view changed and none was written yet.
    IF (OLD.job_id, OLD.video_id, OLD.position, OLD.title, OLD.url, OLD.duration_s,
        OLD.published_at, OLD.error_class, OLD.timings, OLD.updated_at, OLD.finished_at)
       IS NOT DISTINCT FROM
       (NEW.job_id, NEW.video_id, NEW.position, NEW.title, NEW.url, NEW.duration_s,
        NEW.published_at, NEW.error_class, NEW.timings, NEW.updated_at, NEW.finished_at)
       OR chansum_job_changed_here(NEW.job_id) THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO job_changes (job_id, kind, payload) VALUES (NEW.job_id, 'video', jsonb_build_object(
    'job_id', NEW.job_id::text, 'video_id', NEW.video_id, 'title', NEW.title,
    'stage', NEW.stage, 'state', NEW.state, 'error', NEW.last_error,
    'error_class', NEW.error_class, 'attempts', NEW.attempts, 'skip_reason', NEW.skip_reason,
    'timings', NEW.timings, 'updated_at', chansum_utc_text(NEW.updated_at)));
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_delete_change AFTER DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION chansum_job_change();
CREATE TRIGGER videos_delete_change AFTER DELETE ON videos
  FOR EACH ROW EXECUTE FUNCTION chansum_video_change();
