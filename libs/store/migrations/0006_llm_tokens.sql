-- Token accounting of the LLM summarization backend (issue 6): what each job has spent (checked
-- against JOB_TOKEN_BUDGET before every LLM call) and, per video, the model and tokens of its
-- summary.
CREATE TABLE IF NOT EXISTS job_token_usage (
  job_id      uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  tokens      bigint NOT NULL DEFAULT 0,   -- total_tokens of every call, failed videos included
  calls       integer NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE videos ADD COLUMN IF NOT EXISTS llm_model text;
ALTER TABLE videos ADD COLUMN IF NOT EXISTS llm_tokens bigint;
