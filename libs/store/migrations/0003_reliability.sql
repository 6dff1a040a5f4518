-- Reliability: leases on discovery, dead letters recorded from the <queue>.dlq queues.

-- Discovery holds a lease on its job while it runs (videos already have lease_owner /
-- lease_expires_at). discovery_attempts counts the claims of discovery, so the sweeper can give
-- up after MAX_ATTEMPTS claims whose lease expired.
ALTER TABLE jobs ADD COLUMN lease_owner text;
ALTER TABLE jobs ADD COLUMN lease_expires_at timestamptz;
ALTER TABLE jobs ADD COLUMN discovery_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';

-- Every message that reached a <queue>.dlq (delivery limit hit, malformed), as the orchestrator's
-- DLQ consumer read it. job_id / video_id are set when the body parsed far enough.
CREATE TABLE dead_letters (
  id           bigserial PRIMARY KEY,
  queue        text NOT NULL,                 -- the .dlq queue it was read from
  stage        text,                          -- stage of that queue
  reason       text NOT NULL,                 -- x-chansum-reason or x-first-death-reason
  headers      jsonb NOT NULL DEFAULT '{}',   -- flat AMQP headers (x-first-death-*, x-delivery-count, ...)
  message_id   text NOT NULL DEFAULT '',
  body         text NOT NULL,
  job_id       uuid,
  video_id     text,
  received_at  timestamptz NOT NULL DEFAULT now(),
  replayed_at  timestamptz                    -- set by POST /jobs/{id}/retry
);
CREATE INDEX dead_letters_job_idx ON dead_letters (job_id, id);
-- A redelivered DLQ message (the consumer died before its ack) is recorded once.
CREATE UNIQUE INDEX dead_letters_message_idx ON dead_letters (queue, message_id)
  WHERE message_id <> '';
