-- Issue 18 §3.6: video ids are scoped by their source. Discovery now stores each video under a
-- source-scoped key (media::KeyForEntry): a YouTube video under its bare id, as before; another
-- extractor's as "<extractor>:<id>"; a feed item as "feed:<guid>:<16 hex of SHA-256 of its media
-- URL>", so another feed reusing a guid for other media can neither be skipped as "already
-- processed" nor be served this one's transcript and summary.
-- videos.source: "youtube", an extractor's name, "feed"; "legacy" for rows discovered before this
--   migration whose source cannot be told any more (a feed item keyed by its bare guid).
-- videos.source_id: the source's own readable id (the YouTube id, the feed item's <guid>).
-- Existing rows keep their video_id, so GET /jobs/{id} and /videos/{id}/... find them as before;
-- YouTube rows get source 'youtube' and keep reusing their stored documents. Documents stored under
-- a bare feed guid stay where they are, but no new feed key names them: such items are processed
-- once more under their scoped key (results are never borrowed from a source that may differ).
ALTER TABLE videos ADD COLUMN source text, ADD COLUMN source_id text;
UPDATE videos SET source_id = video_id,
  source = CASE WHEN url ~ '^https?://([a-z0-9-]+\.)*(youtube\.com|youtu\.be)/' THEN 'youtube'
                ELSE 'legacy' END;
