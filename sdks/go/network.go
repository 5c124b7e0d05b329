package wrenn

import "context"

// SandboxNetwork is a sandbox's egress policy as the API reports it.
type SandboxNetwork struct {
	AllowOut []string `json:"allowOut"`
	DenyOut  []string `json:"denyOut"`
}

// NetworkOptions of Create. AllowOut and DenyOut: IPv4 addresses or CIDRs, and in AllowOut
// also host names and "*." wildcards (a destination in AllowOut is reachable whatever
// DenyOut says); the server validates them (one rule, in the contract). AllowPublicTraffic
// false: the ports need Sandbox.TrafficAccessToken.
type NetworkOptions struct {
	AllowOut           []string
	DenyOut            []string
	AllowPublicTraffic *bool
}

func (n NetworkOptions) body() map[string]any {
	b := egressBody(n.AllowOut, n.DenyOut)
	if n.AllowPublicTraffic != nil {
		b["allowPublicTraffic"] = *n.AllowPublicTraffic
	}
	return b
}

// NetworkUpdate is a whole new egress policy for UpdateNetwork: what it leaves out is cleared.
// AllowInternetAccess nil: the server's default, as at create.
type NetworkUpdate struct {
	AllowOut            []string
	DenyOut             []string
	AllowInternetAccess *bool
}

func egressBody(allowOut, denyOut []string) map[string]any {
	b := map[string]any{}
	if allowOut != nil {
		b["allowOut"] = allowOut
	}
	if denyOut != nil {
		b["denyOut"] = denyOut
	}
	return b
}

// UpdateNetwork replaces a running sandbox's egress policy at once; connections the new
// policy forbids are cut. It returns the sandbox's new info.
func UpdateNetwork(ctx context.Context, id string, u NetworkUpdate, cfg Config) (*SandboxInfo, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return updateNetwork(ctx, c, id, u)
}

// UpdateNetwork of this sandbox (see the function UpdateNetwork).
func (s *Sandbox) UpdateNetwork(ctx context.Context, u NetworkUpdate) (*SandboxInfo, error) {
	return updateNetwork(ctx, s.c, s.ID, u)
}

func updateNetwork(ctx context.Context, c *client, id string, u NetworkUpdate) (*SandboxInfo, error) {
	path, err := sandboxPath(id)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"network": egressBody(u.AllowOut, u.DenyOut)}
	if u.AllowInternetAccess != nil {
		body["allowInternet"] = *u.AllowInternetAccess
	}
	var info SandboxInfo
	if err := c.json(ctx, "PUT", path+"/network", nil, body, &info, 0); err != nil {
		return nil, err
	}
	info.EnvdAccessTo = ""
	return &info, nil
}
