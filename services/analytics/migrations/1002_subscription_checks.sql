-- subscription.checked events (issue 15): how many checks ended with each outcome and how many
-- new videos they found; scope = 'overall' or a subscription id (lower-case text).
CREATE TABLE analytics_subscription_checks (
  scope      text NOT NULL,
  outcome    text NOT NULL,
  checks     bigint NOT NULL,
  new_videos bigint NOT NULL,
  PRIMARY KEY (scope, outcome)
);
