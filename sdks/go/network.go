package wrenn

import "context"

// SandboxNetwork is a sandbox's egress policy as the API reports it.
type SandboxNetwork struct {
	AllowOut []string `json:"allowOut"`
	DenyOut  []string `json:"denyOut"`
	// Rules as written: placeholders, never secret values. Nil: none.
	Rules HeaderRules `json:"rules,omitempty"`
	// The SOCKS5 proxy (address and user name; never the password). Nil: none.
	EgressProxy *EgressProxy `json:"egressProxy,omitempty"`
}

// HeaderRules are E2B's network.rules: per domain (a name or "*.domain"), transforms that set
// headers on every HTTP(S) request the sandbox sends there. Values may hold
// ${e2b.secrets.NAME} placeholders (SecretPlaceholder), filled in on the host, so the value
// never enters the sandbox. Rules do not allow a domain: AllowOut does.
type HeaderRules map[string][]HeaderTransform

// HeaderTransform sets Headers on a matching request (replacing one of the same name).
type HeaderTransform struct {
	Transform struct {
		Headers map[string]string `json:"headers"`
	} `json:"transform"`
}

// SetHeaders is one transform setting these headers.
func SetHeaders(headers map[string]string) HeaderTransform {
	var t HeaderTransform
	t.Transform.Headers = headers
	return t
}

// EgressProxy is E2B's egressProxy: the sandbox's allowed TCP goes through this SOCKS5
// proxy ("host:port"), never direct. Username and Password: both or neither; the password is
// sealed by the server and never returned.
type EgressProxy struct {
	Address  string `json:"address"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
}

// NetworkOptions of Create. AllowOut and DenyOut: IPv4 addresses or CIDRs, and in AllowOut
// also host names and "*." wildcards (a destination in AllowOut is reachable whatever
// DenyOut says); the server validates them (one rule, in the contract). AllowPublicTraffic
// false: the ports need Sandbox.TrafficAccessToken.
type NetworkOptions struct {
	AllowOut           []string
	DenyOut            []string
	AllowPublicTraffic *bool
	Rules              HeaderRules
	EgressProxy        *EgressProxy
}

func (n NetworkOptions) body() map[string]any {
	b := egressBody(n.AllowOut, n.DenyOut, n.Rules, n.EgressProxy)
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
	Rules               HeaderRules
	EgressProxy         *EgressProxy
}

func egressBody(allowOut, denyOut []string, rules HeaderRules, proxy *EgressProxy) map[string]any {
	b := map[string]any{}
	if rules != nil {
		b["rules"] = rules
	}
	if proxy != nil {
		b["egressProxy"] = proxy
	}
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
	body := map[string]any{"network": egressBody(u.AllowOut, u.DenyOut, u.Rules, u.EgressProxy)}
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
