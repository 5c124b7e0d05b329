-- Why a sandbox is in error, as a code the API, CLI and admin UI show beside the message:
-- oom, pids, crashed, interrupted, failed, lost (SANDBOX_ERROR_REASONS in @wrenn/proto).
ALTER TABLE sandboxes ADD COLUMN error_reason text;
