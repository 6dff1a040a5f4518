-- A row the broker refuses (e.g. unroutable: its queue does not exist) is retried on its own
-- schedule instead of holding back the rows behind it: the relay sets next_attempt_at with an
-- exponential backoff and skips the row until then. Nothing is dropped: the row stays pending
-- with publish_attempts and last_error telling why.
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
