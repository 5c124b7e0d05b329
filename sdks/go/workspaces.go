package wrenn

import (
	"context"
	"net/url"
	"time"
)

// Workspaces (/v1/workspaces), as the TypeScript SDK's Workspaces: named, persistent sandboxes
// with no end time. Suspend pauses one, Resume brings it back; nothing ends one but Destroy.
type Workspaces struct{ c *client }

// WorkspaceInfo is a workspace as the server reports it.
type WorkspaceInfo struct {
	Name     string `json:"name"`
	State    string `json:"state"` // created, running, stopped or suspended
	Image    string `json:"image"`
	VCPUs    int    `json:"vcpus"`
	MemoryMB int    `json:"memoryMb"`
	DiskGB   int    `json:"diskGb"`
	// HostPort is the host's UDP port of its WireGuard endpoint; 0 until it has one.
	HostPort int `json:"hostPort"`
	// VMIP is its address on its host ("" while it has none, e.g. suspended).
	VMIP      string `json:"vmIp"`
	SandboxID string `json:"sandboxId"`
	// SSHHostKey is its SSH host public key ("ssh-ed25519 ..."), "" while unknown.
	SSHHostKey string    `json:"sshHostKey"`
	CreatedAt  time.Time `json:"createdAt"`
}

// WorkspaceOptions of Workspaces.Create; zero values take the server's defaults.
type WorkspaceOptions struct {
	Image    string
	VCPUs    int
	MemoryMB int
	DiskGB   int
}

// workspaceTimeout: a cold boot with a bigger disk, or a suspend writing its memory; no
// client-side deadline shorter than the server's own.
const workspaceTimeout = 30 * time.Minute

func workspacePath(name string) (string, error) {
	if name == "" {
		return "", newError(KindInvalidArgument, "invalid_argument", "a workspace name must be a non-empty string")
	}
	return "/v1/workspaces/" + url.PathEscape(name), nil
}

func (w *Workspaces) one(ctx context.Context, method, name, suffix string, body any, timeout time.Duration) (*WorkspaceInfo, error) {
	path, err := workspacePath(name)
	if err != nil {
		return nil, err
	}
	var out WorkspaceInfo
	if err := w.c.json(ctx, method, path+suffix, nil, body, &out, timeout); err != nil {
		return nil, err
	}
	return &out, nil
}

// Create makes a workspace.
func (w *Workspaces) Create(ctx context.Context, name string, o WorkspaceOptions) (*WorkspaceInfo, error) {
	body := map[string]any{"name": name}
	if o.Image != "" {
		body["image"] = o.Image
	}
	for k, v := range map[string]int{"vcpus": o.VCPUs, "memoryMb": o.MemoryMB, "diskGb": o.DiskGB} {
		if v != 0 {
			body[k] = v
		}
	}
	var out WorkspaceInfo
	if err := w.c.json(ctx, "POST", "/v1/workspaces", nil, body, &out, workspaceTimeout); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns the caller's workspaces.
func (w *Workspaces) List(ctx context.Context) ([]WorkspaceInfo, error) {
	var out struct {
		Workspaces []WorkspaceInfo `json:"workspaces"`
	}
	if err := w.c.json(ctx, "GET", "/v1/workspaces", nil, nil, &out, 0); err != nil {
		return nil, err
	}
	if out.Workspaces == nil {
		out.Workspaces = []WorkspaceInfo{}
	}
	return out.Workspaces, nil
}

// Get returns one workspace.
func (w *Workspaces) Get(ctx context.Context, name string) (*WorkspaceInfo, error) {
	return w.one(ctx, "GET", name, "", nil, 0)
}

// Suspend pauses the workspace's sandbox.
func (w *Workspaces) Suspend(ctx context.Context, name string) (*WorkspaceInfo, error) {
	return w.one(ctx, "POST", name, "/suspend", map[string]any{}, workspaceTimeout)
}

// Resume brings a suspended workspace back.
func (w *Workspaces) Resume(ctx context.Context, name string) (*WorkspaceInfo, error) {
	return w.one(ctx, "POST", name, "/resume", map[string]any{}, workspaceTimeout)
}

// Destroy removes the workspace and its disk; the name is free afterwards.
func (w *Workspaces) Destroy(ctx context.Context, name string) error {
	path, err := workspacePath(name)
	if err != nil {
		return err
	}
	return w.c.json(ctx, "DELETE", path, nil, nil, nil, workspaceTimeout)
}
