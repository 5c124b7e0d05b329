package wrenn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Version of this SDK.
const Version = "0.1.0"

// DefaultAPIURL is where `wrenn up` / `npm start` listen.
const DefaultAPIURL = "http://127.0.0.1:3000"

// Config says where the control plane is and how to talk to it. Empty fields come from the
// environment: WRENN_API_KEY (or E2B_API_KEY), WRENN_API_URL (or E2B_API_URL).
type Config struct {
	APIKey string
	APIURL string
	// RequestTimeout bounds each API call and the wait for a stream's answer (0: 60 s).
	RequestTimeout time.Duration
	// HTTPClient to use instead of a default one (no overall timeout: streams run long).
	HTTPClient *http.Client
	// ReconnectTimeout: how long a broken command output stream keeps trying to reconnect
	// (envd replays what was missed) before Wait returns a stream_lost error (0: 60 s).
	ReconnectTimeout time.Duration
	// Domain is the control plane's wildcard domain (its WRENN_DOMAIN; default the
	// environment's WRENN_DOMAIN), for GetHost's <port>-<id>.<domain>. Without one, ports are
	// reached through the API's own /v1/sandboxes/{id}/ports/{port}.
	Domain string
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

type client struct {
	apiURL    string
	domain    string
	apiKey    string
	timeout   time.Duration
	reconnect time.Duration
	http      *http.Client
}

func newClient(c Config) (*client, error) {
	raw := c.APIURL
	if raw == "" {
		raw = firstEnv("WRENN_API_URL", "E2B_API_URL")
	}
	if raw == "" {
		raw = DefaultAPIURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, newError(KindInvalidArgument, "invalid_api_url", fmt.Sprintf("the API URL must be http:// or https:// (e.g. %s), got %q", DefaultAPIURL, raw))
	}
	key := c.APIKey
	if key == "" {
		key = firstEnv("WRENN_API_KEY", "E2B_API_KEY")
	}
	if key == "" {
		return nil, newError(KindAuthentication, "missing_api_key", "no API key: set Config.APIKey or WRENN_API_KEY (`wrenn up` prints one)")
	}
	timeout := c.RequestTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	reconnect := c.ReconnectTimeout
	if reconnect <= 0 {
		reconnect = 60 * time.Second
	}
	domain := c.Domain
	if domain == "" {
		domain = os.Getenv("WRENN_DOMAIN")
	}
	return &client{apiURL: strings.TrimRight(raw, "/"), domain: domain, apiKey: key, timeout: timeout, reconnect: reconnect, http: hc}, nil
}

func (c *client) headers(h http.Header) {
	h.Set("User-Agent", "wrenn-sdk-go/"+Version)
	h.Set(apiKeyHeader, c.apiKey)
}

// do sends a request and returns the answer, any status; network failures become typed errors.
func (c *client) do(req *http.Request) (*http.Response, error) {
	c.headers(req.Header)
	res, err := c.http.Do(req)
	if err == nil {
		return res, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, &Error{Kind: KindTimeout, Code: "request_timeout", Message: fmt.Sprintf("%s: no answer in time", req.URL.Path), Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return nil, err
	}
	return nil, &Error{Kind: KindConnection, Code: "unreachable", Message: fmt.Sprintf("cannot reach the Wrenn control plane at %s (%v); is it running (wrenn up / npm start) and is WRENN_API_URL right?", c.apiURL, err), Err: err}
}

// json calls the /v1 API: body (if any) as JSON in, the answer decoded into out (if any).
func (c *client) json(ctx context.Context, method, path string, query url.Values, body, out any, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = c.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(data)
	}
	target := c.apiURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		return &Error{Kind: KindConnection, Code: "connection_lost", Message: err.Error(), Err: err}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return ErrorFromResponse(res.StatusCode, string(text), res.Header.Get("Retry-After"))
	}
	if out == nil || len(text) == 0 {
		return nil
	}
	if err := json.Unmarshal(text, out); err != nil {
		return &Error{Kind: KindUnexpectedResponse, Code: "invalid_json", Message: fmt.Sprintf("%s %s answered with a body that is not the expected JSON: %v", method, path, err), Err: err}
	}
	return nil
}

func sandboxPath(id string) (string, error) {
	if id == "" {
		return "", newError(KindInvalidArgument, "invalid_argument", "a sandbox id must be a non-empty string")
	}
	return "/v1/sandboxes/" + url.PathEscape(id), nil
}
