package wrenn

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// The /v1 API beyond one sandbox's life, as the TypeScript SDK's WrennClient has it: snapshots
// of running sandboxes and forks (Client.Snapshots), templates (Client.Templates), workspaces
// (Client.Workspaces; the TypeScript SDK's Workspaces). A snapshot's
// ID is a template: Create(ctx, CreateOptions{Template: snap.ID}) restores it.

// saveTimeout: a snapshot and a fork write the sandbox's memory and disk, longer than a usual
// request.
const saveTimeout = 600 * time.Second

// Client holds the connection for the snapshot and template calls.
type Client struct {
	Snapshots  *Snapshots
	Templates  *Templates
	Workspaces *Workspaces
	// Sandboxes reads a sandbox's files by id, also once it failed (stopped_files.go).
	Sandboxes *Sandboxes
}

// NewClient reads cfg the way Create does (empty fields from the environment).
func NewClient(cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Snapshots: &Snapshots{c}, Templates: &Templates{c}, Workspaces: &Workspaces{c}, Sandboxes: &Sandboxes{c}}, nil
}

// Snapshot is a saved running sandbox.
type Snapshot struct {
	ID              string  `json:"id"`
	Name            *string `json:"name"`
	SourceSandboxID string  `json:"sourceSandboxId"`
	Template        string  `json:"template"`
	SizeBytes       int64   `json:"sizeBytes"`
	// Stored: in the fleet's shared store, so it outlives its host and restores on any host.
	Stored    bool      `json:"stored"`
	CreatedAt time.Time `json:"createdAt"`
}

// SnapshotPage is a page of snapshots, newest first; NextCursor (when set) continues it.
type SnapshotPage struct {
	Snapshots  []Snapshot `json:"snapshots"`
	NextCursor *string    `json:"nextCursor"`
}

// SnapshotListOptions filters Snapshots.List; zero values are left out.
type SnapshotListOptions struct {
	SandboxID string
	Name      string
	Limit     int
	Cursor    string
}

// ForkOptions of Snapshots.Fork; zero values take the server's defaults.
type ForkOptions struct {
	Count   int
	Timeout time.Duration
}

// Fork is one sandbox of a fork: Sandbox when it was made, else Error.
type Fork struct {
	Sandbox *SandboxInfo `json:"sandbox"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Snapshots: /v1/snapshots and /v1/sandboxes/{id}/snapshots|fork.
type Snapshots struct{ c *client }

func snapshotPath(id string) (string, error) {
	if id == "" {
		return "", newError(KindInvalidArgument, "invalid_argument", "a snapshot id must be a non-empty string")
	}
	return "/v1/snapshots/" + url.PathEscape(id), nil
}

// Create saves a running sandbox (memory, processes, files); it keeps running. name may be "".
func (s *Snapshots) Create(ctx context.Context, sandboxID, name string) (*Snapshot, error) {
	path, err := sandboxPath(sandboxID)
	if err != nil {
		return nil, err
	}
	body := map[string]any{}
	if name != "" {
		body["name"] = name
	}
	var out Snapshot
	if err := s.c.json(ctx, "POST", path+"/snapshots", nil, body, &out, max(s.c.timeout, saveTimeout)); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns a page of the caller's snapshots, newest first.
func (s *Snapshots) List(ctx context.Context, o SnapshotListOptions) (*SnapshotPage, error) {
	q := url.Values{}
	if o.SandboxID != "" {
		q.Set("sandboxId", o.SandboxID)
	}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Limit != 0 {
		if err := bounded("Limit", o.Limit, listLimitMin, listLimitMax); err != nil {
			return nil, err
		}
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	var out SnapshotPage
	if err := s.c.json(ctx, "GET", "/v1/snapshots", q, nil, &out, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns one snapshot.
func (s *Snapshots) Get(ctx context.Context, id string) (*Snapshot, error) {
	path, err := snapshotPath(id)
	if err != nil {
		return nil, err
	}
	var out Snapshot
	if err := s.c.json(ctx, "GET", path, nil, nil, &out, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a snapshot.
func (s *Snapshots) Delete(ctx context.Context, id string) error {
	path, err := snapshotPath(id)
	if err != nil {
		return err
	}
	return s.c.json(ctx, "DELETE", path, nil, nil, nil, 0)
}

// Fork makes o.Count sandboxes (default 1) from one snapshot of a running sandbox; each entry
// is a sandbox or an error. Connect(ctx, fork.Sandbox.SandboxID, 0, cfg) uses one.
func (s *Snapshots) Fork(ctx context.Context, sandboxID string, o ForkOptions) ([]Fork, error) {
	path, err := sandboxPath(sandboxID)
	if err != nil {
		return nil, err
	}
	body := map[string]any{}
	if o.Count != 0 {
		body["count"] = o.Count
	}
	if o.Timeout != 0 {
		secs, err := seconds("Timeout", o.Timeout)
		if err != nil {
			return nil, err
		}
		body["timeoutSeconds"] = secs
	}
	var out struct {
		Forks []Fork `json:"forks"`
	}
	if err := s.c.json(ctx, "POST", path+"/fork", nil, body, &out, max(s.c.timeout, saveTimeout)); err != nil {
		return nil, err
	}
	return out.Forks, nil
}

// Template is a template the caller's owner built (or is building).
type Template struct {
	TemplateID string  `json:"templateId"`
	Name       string  `json:"name"`
	Tag        string  `json:"tag"`
	FromImage  string  `json:"fromImage"`
	Status     string  `json:"status"` // building, ready or error
	Step       *string `json:"step"`
	CPUCount   int     `json:"cpuCount"`
	MemoryMB   int     `json:"memoryMB"`
	Usable     bool    `json:"usable"`
	Error      *struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Step    *string `json:"step"`
	} `json:"error"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// TemplateLogEntry is a line of a build's log.
type TemplateLogEntry struct {
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"`
	Step      string    `json:"step"`
	Message   string    `json:"message"`
}

// TemplateBuild is a template with its build log from the offset asked; NextLogsOffset
// continues it.
type TemplateBuild struct {
	Template       Template           `json:"template"`
	Logs           []TemplateLogEntry `json:"logs"`
	NextLogsOffset int                `json:"nextLogsOffset"`
}

// TemplateOptions of Templates.Create: the contract's CreateTemplateBody in Go names; zero
// values are left out.
type TemplateOptions struct {
	FromImage    string
	FromTemplate string
	StartCmd     string
	ReadyCmd     string
}

// Templates: /v1/templates, templates the caller's owner builds from OCI images.
type Templates struct{ c *client }

func templatePath(nameTag string) (string, error) {
	if nameTag == "" {
		return "", newError(KindInvalidArgument, "invalid_argument", "a template name must be a non-empty string")
	}
	return "/v1/templates/" + url.PathEscape(nameTag), nil
}

// Create starts a build of NAME or NAME:TAG; it answers once the image is found (status
// building): follow it with Build.
func (t *Templates) Create(ctx context.Context, nameTag string, o TemplateOptions) (*Template, error) {
	body := map[string]any{"name": nameTag}
	for k, v := range map[string]string{"fromImage": o.FromImage, "fromTemplate": o.FromTemplate, "startCmd": o.StartCmd, "readyCmd": o.ReadyCmd} {
		if v != "" {
			body[k] = v
		}
	}
	var out Template
	if err := t.c.json(ctx, "POST", "/v1/templates", nil, body, &out, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns the caller's templates.
func (t *Templates) List(ctx context.Context) ([]Template, error) {
	var out struct {
		Templates []Template `json:"templates"`
	}
	if err := t.c.json(ctx, "GET", "/v1/templates", nil, nil, &out, 0); err != nil {
		return nil, err
	}
	if out.Templates == nil {
		out.Templates = []Template{}
	}
	return out.Templates, nil
}

// Get returns one template, by NAME or NAME:TAG.
func (t *Templates) Get(ctx context.Context, nameTag string) (*Template, error) {
	path, err := templatePath(nameTag)
	if err != nil {
		return nil, err
	}
	var out Template
	if err := t.c.json(ctx, "GET", path, nil, nil, &out, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// Build returns the template with its build log from logsOffset on (limit 0: the server's).
func (t *Templates) Build(ctx context.Context, nameTag string, logsOffset, limit int) (*TemplateBuild, error) {
	path, err := templatePath(nameTag)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if logsOffset != 0 {
		q.Set("logsOffset", strconv.Itoa(logsOffset))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out TemplateBuild
	if err := t.c.json(ctx, "GET", path+"/build", q, nil, &out, 0); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes a template (a template_in_use conflict while a sandbox uses it).
func (t *Templates) Delete(ctx context.Context, nameTag string) error {
	path, err := templatePath(nameTag)
	if err != nil {
		return err
	}
	return t.c.json(ctx, "DELETE", path, nil, nil, nil, 0)
}
