-- Refresh-token families (review H2): each refresh token records the token its own use issued.
-- A token with a successor was spent by the agent and keeps the short grace window (its answer
-- may have been lost); one revoked without a successor was never spent (a discarded answer, or
-- a family revoked for a replay) and is refused outright, any use of it a replay.
ALTER TABLE host_refresh_tokens ADD COLUMN replaced_by text;
