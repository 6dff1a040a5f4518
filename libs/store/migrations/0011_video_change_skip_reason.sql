-- The live stream's `video` events carry the video's skip_reason (videos.skip_reason, as in GET
-- /jobs/{id}), so a watcher sees why a video ended `skipped` ("already processed") from the event
-- itself. Same trigger as migration 0004, plus the column in the payload and in the change test.
CREATE OR REPLACE FUNCTION chansum_video_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.state IS NOT DISTINCT FROM NEW.state
     AND OLD.stage IS NOT DISTINCT FROM NEW.stage
     AND OLD.attempts IS NOT DISTINCT FROM NEW.attempts
     AND OLD.last_error IS NOT DISTINCT FROM NEW.last_error
     AND OLD.skip_reason IS NOT DISTINCT FROM NEW.skip_reason THEN
    RETURN NULL;
  END IF;
  INSERT INTO job_changes (job_id, kind, payload) VALUES (NEW.job_id, 'video', jsonb_build_object(
    'job_id', NEW.job_id::text, 'video_id', NEW.video_id, 'title', NEW.title,
    'stage', NEW.stage, 'state', NEW.state, 'error', NEW.last_error,
    'error_class', NEW.error_class, 'attempts', NEW.attempts, 'skip_reason', NEW.skip_reason,
    'timings', NEW.timings, 'updated_at', chansum_utc_text(NEW.updated_at)));
  RETURN NULL;
END
$$;
