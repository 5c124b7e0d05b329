package wrenn

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// SecretInfo is a stored secret (/v1/secrets). The value is write-only: no answer has it.
type SecretInfo struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"` // stored lower-cased
	CurrentVersion int               `json:"currentVersion"`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

// The contract's secret names: 1 to 128 letters, digits, _ or -.
var secretName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// SecretPlaceholder is the placeholder for the secret's current value, for a header rule's
// value (E2B's Secret.fill): ${e2b.secrets.NAME}.
func SecretPlaceholder(name string) (string, error) {
	if !secretName.MatchString(name) {
		return "", newError(KindInvalidArgument, "invalid_request", fmt.Sprintf("%q is not a secret name (1 to 128 letters, digits, '_' or '-')", name))
	}
	return "${e2b.secrets." + name + "}", nil
}

func secretPath(ref string) (string, error) {
	if ref == "" {
		return "", newError(KindInvalidArgument, "invalid_argument", "a secret id or name must be non-empty")
	}
	return "/v1/secrets/" + url.PathEscape(ref), nil
}

// AddSecret stores a new secret (version 1). Metadata may be nil.
func AddSecret(ctx context.Context, name, value string, metadata map[string]string, cfg Config) (*SecretInfo, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"name": name, "value": value}
	if metadata != nil {
		body["metadata"] = metadata
	}
	var s SecretInfo
	if err := c.json(ctx, "POST", "/v1/secrets", nil, body, &s, 0); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateSecret stores a new version of the secret (by id or name); metadata replaced when not
// nil. Running sandboxes whose rules name it get the new value at once.
func UpdateSecret(ctx context.Context, ref, value string, metadata map[string]string, cfg Config) (*SecretInfo, error) {
	body := map[string]any{"value": value}
	if metadata != nil {
		body["metadata"] = metadata
	}
	var s SecretInfo
	if err := secretCall(ctx, "POST", ref, body, &s, cfg); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetSecret by id or name (any case).
func GetSecret(ctx context.Context, ref string, cfg Config) (*SecretInfo, error) {
	var s SecretInfo
	if err := secretCall(ctx, "GET", ref, nil, &s, cfg); err != nil {
		return nil, err
	}
	return &s, nil
}

// secretCall sends one request about the secret `ref` (an id or a name).
func secretCall(ctx context.Context, method, ref string, body, out any, cfg Config) error {
	c, err := newClient(cfg)
	if err != nil {
		return err
	}
	path, err := secretPath(ref)
	if err != nil {
		return err
	}
	return c.json(ctx, method, path, nil, body, out, 0)
}

// ListSecrets returns every secret of the owner, oldest first (all pages).
func ListSecrets(ctx context.Context, cfg Config) ([]SecretInfo, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	var out []SecretInfo
	cursor := ""
	for {
		q := url.Values{"limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Secrets    []SecretInfo `json:"secrets"`
			NextCursor *string      `json:"nextCursor"`
		}
		if err := c.json(ctx, "GET", "/v1/secrets", q, nil, &page, 0); err != nil {
			return nil, err
		}
		out = append(out, page.Secrets...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return out, nil
		}
		cursor = *page.NextCursor
	}
}

// RemoveSecret by id or name.
func RemoveSecret(ctx context.Context, ref string, cfg Config) error {
	return secretCall(ctx, "DELETE", ref, nil, nil, cfg)
}
