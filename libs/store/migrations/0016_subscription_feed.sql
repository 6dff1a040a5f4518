-- Issue 15 §1, the cheap check first: before a check lists the whole channel with yt-dlp,
-- discovery reads the channel's Atom feed (YouTube's feeds/videos.xml?channel_id=UC…).
-- subscriptions.channel_id: the UC… id the feed needs; from the channel URL, or remembered from
--   the first full listing (a handle URL does not carry it).
-- subscriptions.feed_video_ids: the video ids the feed showed at the last check that read it; a
--   check whose feed shows only these ends no_new_videos without running yt-dlp.
-- subscription_checks.listing: 'full' (yt-dlp listed the channel) or 'feed' (the feed sufficed);
--   feed_note: why the feed did not decide (no channel id, feed 404, parse error, a new video...).
ALTER TABLE subscriptions ADD COLUMN channel_id text;
ALTER TABLE subscriptions ADD COLUMN feed_video_ids jsonb;
ALTER TABLE subscription_checks ADD COLUMN listing text CHECK (listing IN ('full', 'feed'));
ALTER TABLE subscription_checks ADD COLUMN feed_note text;
