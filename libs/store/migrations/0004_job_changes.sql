-- Live job stream (GET /jobs/{id}/events): every change of a job's state or video count and every
-- change of a video's stage, state, attempts or error writes one job_changes row IN THE SAME
-- TRANSACTION as the change (triggers), so the stream can never show a change that did not commit
-- nor miss one that did. `seq` is the SSE event id (monotonic per database). The orchestrator
-- deletes rows older than JOB_CHANGES_RETENTION_HOURS.
CREATE TABLE job_changes (
  seq         bigserial PRIMARY KEY,
  job_id      uuid NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('job', 'video')),
  payload     jsonb NOT NULL,
  -- clock time of the insert (not the transaction start): the stream treats a row as settled
  -- once no transaction that started before it can still commit a lower seq.
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX job_changes_job_seq_idx ON job_changes (job_id, seq);
CREATE INDEX job_changes_created_idx ON job_changes (created_at);

CREATE FUNCTION chansum_utc_text(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION chansum_job_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state
     AND OLD.video_count IS NOT DISTINCT FROM NEW.video_count THEN
    RETURN NULL;
  END IF;
  INSERT INTO job_changes (job_id, kind, payload) VALUES (NEW.id, 'job', jsonb_build_object(
    'job_id', NEW.id::text, 'state', NEW.state, 'video_count', NEW.video_count,
    'error', NEW.error, 'error_class', NEW.error_class,
    'finished_at', chansum_utc_text(NEW.finished_at),
    'updated_at', chansum_utc_text(NEW.updated_at)));
  RETURN NULL;
END
$$;

CREATE FUNCTION chansum_video_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state
     AND OLD.stage IS NOT DISTINCT FROM NEW.stage
     AND OLD.attempts IS NOT DISTINCT FROM NEW.attempts
     AND OLD.last_error IS NOT DISTINCT FROM NEW.last_error THEN
    RETURN NULL;
  END IF;
  INSERT INTO job_changes (job_id, kind, payload) VALUES (NEW.job_id, 'video', jsonb_build_object(
    'job_id', NEW.job_id::text, 'video_id', NEW.video_id, 'title', NEW.title,
    'stage', NEW.stage, 'state', NEW.state, 'error', NEW.last_error,
    'error_class', NEW.error_class, 'attempts', NEW.attempts, 'timings', NEW.timings,
    'updated_at', chansum_utc_text(NEW.updated_at)));
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_change AFTER INSERT OR UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION chansum_job_change();
CREATE TRIGGER videos_change AFTER INSERT OR UPDATE ON videos
  FOR EACH ROW EXECUTE FUNCTION chansum_video_change();
