ALTER TABLE workspaces DROP COLUMN ssh_host_key;
ALTER TABLE workspaces DROP COLUMN moving_until;
