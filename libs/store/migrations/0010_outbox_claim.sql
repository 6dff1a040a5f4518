-- The relay no longer holds a transaction (and its row locks) open while it waits for the broker:
-- it claims a batch in a short transaction (claimed_by = its PostgreSQL backend pid, claimed_until
-- = now() + lease), commits, publishes, and marks the confirmed rows published in a second one.
-- Another relay takes over a claimed row only once the lease ran out or the claiming session is
-- gone (its pid no longer in pg_stat_activity). A claim never hides a row for good: published_at
-- stays NULL until the broker confirmed it.
ALTER TABLE outbox ADD COLUMN claimed_by integer, ADD COLUMN claimed_until timestamptz;
