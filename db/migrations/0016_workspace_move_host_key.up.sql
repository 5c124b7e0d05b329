-- Workspaces (issue 15): a move in progress is marked on the row, so a wake (SSH, a resume) on
-- any control plane waits for it instead of splitting its pause from its hibernate; the mark is
-- a lease, so a control plane that died mid-move does not hold the workspace forever.
ALTER TABLE workspaces ADD COLUMN moving_until timestamptz;
-- The workspace's SSH host public key (its sshd's, from its own disk), pinned by the CLI.
ALTER TABLE workspaces ADD COLUMN ssh_host_key text;
