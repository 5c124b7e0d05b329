package wrenn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Pausing writes memory to disk and resuming may copy it back: no request-sized waits.
const suspendTimeout = 300 * time.Second

// Sandbox is one sandbox: Create one, or Connect to an existing one (which resumes it).
type Sandbox struct {
	ID string
	// TrafficAccessToken is set when the sandbox was created with
	// Network.AllowPublicTraffic false: its ports, reached through their URL, then need the
	// header e2b-traffic-access-token with it. Empty when they are public.
	TrafficAccessToken string
	Commands           *Commands
	Files              *Files
	Pty                *Pty
	c                  *client
	envd               *envd
}

// SandboxInfo is what the API says about a sandbox.
type SandboxInfo struct {
	SandboxID    string            `json:"id"`
	TemplateID   string            `json:"template"`
	State        string            `json:"state"`
	Metadata     map[string]string `json:"metadata"`
	StartedAt    time.Time         `json:"startedAt"`
	EndAt        time.Time         `json:"endAt"`
	TimeoutSecs  int               `json:"timeoutSeconds"`
	AllowNet     bool              `json:"allowInternet"`
	AutoPause    bool              `json:"autoPause"`
	AutoResume   bool              `json:"autoResume"`
	EnvdVersion  *string           `json:"envdVersion"`
	HostID       *string           `json:"hostId"`
	ErrorText    *string           `json:"error"`
	ErrorReason  *string           `json:"errorReason"`
	EnvVarNames  []string          `json:"envVarNames"`
	Resources    Resources         `json:"resources"`
	EnvdAccessTo string            `json:"envdAccessToken,omitempty"`
	Network      SandboxNetwork    `json:"network"`
	// AllowPublicTraffic false: the ports need the traffic access token.
	AllowPublicTraffic bool    `json:"allowPublicTraffic"`
	TrafficAccessToken *string `json:"trafficAccessToken,omitempty"`
}

// Resources of a sandbox.
type Resources struct {
	VCPUs    int `json:"vcpus,omitempty"`
	MemoryMB int `json:"memoryMb,omitempty"`
	DiskMB   int `json:"diskMb,omitempty"`
}

// SandboxMetrics is one sample of a sandbox's use.
type SandboxMetrics struct {
	Timestamp     time.Time `json:"timestamp"`
	CPUCount      int       `json:"cpuCount"`
	CPUUsedPct    float64   `json:"cpuUsedPct"`
	MemUsedBytes  int64     `json:"memUsedBytes"`
	MemTotalBytes int64     `json:"memTotalBytes"`
	DiskUsedBytes int64     `json:"diskUsedBytes"`
	DiskTotal     int64     `json:"diskTotalBytes"`
}

// CreateOptions of Create. Zero values mean the server's defaults.
type CreateOptions struct {
	Config
	Template string
	// Timeout is the sandbox's lifetime (rounded up to seconds; server default 300 s).
	Timeout             time.Duration
	Metadata            map[string]string
	Envs                map[string]string
	Resources           Resources
	AllowInternetAccess *bool
	AutoPause           *bool
	// With AutoPause: a request to one of its ports (or envd) while it is paused resumes it first.
	AutoResume *bool
	// Network: egress (AllowOut wins over DenyOut) and who may reach the ports.
	Network *NetworkOptions
}

func seconds(name string, d time.Duration) (int, error) {
	s := int(math.Ceil(d.Seconds()))
	if d <= 0 || s > timeoutSecondsMax {
		return 0, newError(KindInvalidArgument, "invalid_request", fmt.Sprintf("%s must be in (0, %d] seconds, got %v", name, timeoutSecondsMax, d))
	}
	return s, nil
}

func bounded(name string, v, min, max int) error {
	if v != 0 && (v < min || v > max) {
		return newError(KindInvalidArgument, "invalid_request", fmt.Sprintf("%s must be %d-%d, got %d", name, min, max, v))
	}
	return nil
}

// Create makes a sandbox and returns once envd inside it answers.
func Create(ctx context.Context, o CreateOptions) (*Sandbox, error) {
	if err := bounded("VCPUs", o.Resources.VCPUs, vcpusMin, vcpusMax); err != nil {
		return nil, err
	}
	if err := bounded("MemoryMB", o.Resources.MemoryMB, memoryMbMin, memoryMbMax); err != nil {
		return nil, err
	}
	c, err := newClient(o.Config)
	if err != nil {
		return nil, err
	}
	body := map[string]any{}
	if o.Template != "" {
		body["template"] = o.Template
	}
	if o.Resources != (Resources{}) {
		body["resources"] = o.Resources
	}
	if o.Timeout != 0 {
		s, err := seconds("Timeout", o.Timeout)
		if err != nil {
			return nil, err
		}
		body["timeoutSeconds"] = s
	}
	if o.Metadata != nil {
		body["metadata"] = o.Metadata
	}
	if o.Envs != nil {
		body["envVars"] = o.Envs
	}
	if o.AllowInternetAccess != nil {
		body["allowInternet"] = *o.AllowInternetAccess
	}
	if o.AutoPause != nil {
		body["autoPause"] = *o.AutoPause
	}
	if o.AutoResume != nil {
		body["autoResume"] = *o.AutoResume
	}
	if o.Network != nil {
		body["network"] = o.Network.body()
	}
	var info SandboxInfo
	if err := c.json(ctx, "POST", "/v1/sandboxes", nil, body, &info, 0); err != nil {
		return nil, err
	}
	return newSandbox(c, info), nil
}

func newSandbox(c *client, info SandboxInfo) *Sandbox {
	e := newEnvd(c, info.SandboxID, info.EnvdAccessTo)
	traffic := ""
	if info.TrafficAccessToken != nil {
		traffic = *info.TrafficAccessToken
	}
	return &Sandbox{ID: info.SandboxID, TrafficAccessToken: traffic, c: c, envd: e, Commands: &Commands{e}, Files: &Files{e}, Pty: &Pty{e}}
}

// Connect attaches to an existing sandbox, resuming it first if it is paused. timeout (0:
// unchanged) is its lifetime from now when resumed.
func Connect(ctx context.Context, id string, timeout time.Duration, cfg Config) (*Sandbox, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	info, err := resume(ctx, c, id, timeout)
	if err != nil {
		return nil, err
	}
	return newSandbox(c, info), nil
}

func resume(ctx context.Context, c *client, id string, timeout time.Duration) (SandboxInfo, error) {
	var info SandboxInfo
	path, err := sandboxPath(id)
	if err != nil {
		return info, err
	}
	body := map[string]any{}
	if timeout != 0 {
		s, err := seconds("timeout", timeout)
		if err != nil {
			return info, err
		}
		body["timeoutSeconds"] = s
	}
	err = c.json(ctx, "POST", path+"/resume", nil, body, &info, max(c.timeout, suspendTimeout))
	return info, err
}

func max(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Kill destroys a sandbox by id: true when it existed, false when unknown.
func Kill(ctx context.Context, id string, cfg Config) (bool, error) {
	c, err := newClient(cfg)
	if err != nil {
		return false, err
	}
	return kill(ctx, c, id)
}

func kill(ctx context.Context, c *client, id string) (bool, error) {
	path, err := sandboxPath(id)
	if err != nil {
		return false, err
	}
	err = c.json(ctx, "DELETE", path, nil, nil, nil, 0)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetInfo of a sandbox by id (stopped ones stay readable).
func GetInfo(ctx context.Context, id string, cfg Config) (*SandboxInfo, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return getInfo(ctx, c, id)
}

func getInfo(ctx context.Context, c *client, id string) (*SandboxInfo, error) {
	path, err := sandboxPath(id)
	if err != nil {
		return nil, err
	}
	var info SandboxInfo
	if err := c.json(ctx, "GET", path, nil, nil, &info, 0); err != nil {
		return nil, err
	}
	info.EnvdAccessTo = ""
	return &info, nil
}

// Kill destroys this sandbox.
func (s *Sandbox) Kill(ctx context.Context) (bool, error) { return kill(ctx, s.c, s.ID) }

// GetInfo of this sandbox.
func (s *Sandbox) GetInfo(ctx context.Context) (*SandboxInfo, error) { return getInfo(ctx, s.c, s.ID) }

// Pause this sandbox (memory and disk kept); false when it was not running.
func (s *Sandbox) Pause(ctx context.Context) (bool, error) {
	path, _ := sandboxPath(s.ID)
	err := s.c.json(ctx, "POST", path+"/pause", nil, map[string]any{}, nil, max(s.c.timeout, suspendTimeout))
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// Resume this sandbox if it is paused (else only extends its end time).
func (s *Sandbox) Resume(ctx context.Context, timeout time.Duration) error {
	info, err := resume(ctx, s.c, s.ID, timeout)
	if err == nil && info.EnvdAccessTo != "" {
		s.envd.token = info.EnvdAccessTo
	}
	return err
}

// SetTimeout sets the end time to now + timeout (rounded up to seconds; may shorten it).
func (s *Sandbox) SetTimeout(ctx context.Context, timeout time.Duration) error {
	secs, err := seconds("timeout", timeout)
	if err != nil {
		return err
	}
	path, _ := sandboxPath(s.ID)
	return s.c.json(ctx, "POST", path+"/timeout", nil, map[string]any{"timeoutSeconds": secs}, nil, 0)
}

// GetMetrics is the current use as a one-sample list; empty when not running.
func (s *Sandbox) GetMetrics(ctx context.Context) ([]SandboxMetrics, error) {
	path, _ := sandboxPath(s.ID)
	var m SandboxMetrics
	err := s.c.json(ctx, "GET", path+"/stats", nil, nil, &m, 0)
	if errors.Is(err, ErrConflict) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []SandboxMetrics{m}, nil
}

// ListOptions of List: filters (all must match), page size and where to continue.
type ListOptions struct {
	Config
	Metadata  map[string]string
	States    []SandboxState
	Template  string
	Limit     int
	NextToken string
}

// Paginator hands out List's pages: NextItems while HasNext.
type Paginator struct {
	c       *client
	o       ListOptions
	token   string
	started bool
}

// List your sandboxes, a page at a time.
func List(o ListOptions) (*Paginator, error) {
	if o.Limit != 0 && (o.Limit < listLimitMin || o.Limit > listLimitMax) {
		return nil, newError(KindInvalidArgument, "invalid_request", fmt.Sprintf("limit must be %d-%d, got %d", listLimitMin, listLimitMax, o.Limit))
	}
	c, err := newClient(o.Config)
	if err != nil {
		return nil, err
	}
	return &Paginator{c: c, o: o, token: o.NextToken}, nil
}

// HasNext says whether another page may follow (true before the first).
func (p *Paginator) HasNext() bool { return !p.started || p.token != "" }

// NextToken continues a listing later.
func (p *Paginator) NextToken() string { return p.token }

// NextItems is the next page; empty once there are no more.
func (p *Paginator) NextItems(ctx context.Context) ([]SandboxInfo, error) {
	if !p.HasNext() {
		return nil, nil
	}
	q := url.Values{}
	for k, v := range p.o.Metadata {
		q.Add("metadata", k+"="+v)
	}
	if len(p.o.States) > 0 {
		states := make([]string, len(p.o.States))
		for i, s := range p.o.States {
			states[i] = string(s)
		}
		q.Set("state", strings.Join(states, ","))
	}
	if p.o.Template != "" {
		q.Set("template", p.o.Template)
	}
	if p.o.Limit != 0 {
		q.Set("limit", fmt.Sprint(p.o.Limit))
	}
	if p.token != "" {
		q.Set("cursor", p.token)
	}
	var page struct {
		Sandboxes  []SandboxInfo `json:"sandboxes"`
		NextCursor *string       `json:"nextCursor"`
	}
	if err := p.c.json(ctx, "GET", "/v1/sandboxes", q, nil, &page, 0); err != nil {
		return nil, err
	}
	p.started = true
	p.token = ""
	if page.NextCursor != nil {
		p.token = *page.NextCursor
	}
	return page.Sandboxes, nil
}
