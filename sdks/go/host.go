package wrenn

import (
	"fmt"
	"net/url"
	"strings"
)

// GetHost is where a port of the sandbox is reached from outside, without a scheme (E2B's
// getHost): <port>-<id>.<domain> when the control plane has a wildcard domain (Config.Domain
// or WRENN_DOMAIN), else <api host>/v1/sandboxes/<id>/ports/<port>, which needs the API key
// in X-API-Key. GetURL gives the full URL.
func (s *Sandbox) GetHost(port int) (string, error) { return hostOf(s.c, s.ID, port) }

// GetURL is the http(s) URL of a sandbox port (see GetHost).
func (s *Sandbox) GetURL(port int) (string, error) {
	host, err := hostOf(s.c, s.ID, port)
	if err != nil {
		return "", err
	}
	u, _ := url.Parse(s.c.apiURL)
	return u.Scheme + "://" + host, nil
}

// GetHost is Sandbox.GetHost for a sandbox id, with cfg as Create takes it.
func GetHost(id string, port int, cfg Config) (string, error) {
	c, err := newClient(cfg)
	if err != nil {
		return "", err
	}
	return hostOf(c, id, port)
}

func hostOf(c *client, id string, port int) (string, error) {
	if port < 1 || port > 65535 {
		return "", newError(KindInvalidArgument, "invalid_port", fmt.Sprintf("port must be an integer from 1 to 65535, got %d", port))
	}
	path, err := sandboxPath(id)
	if err != nil {
		return "", err
	}
	if c.domain != "" {
		return fmt.Sprintf("%d-%s.%s", port, id, c.domain), nil
	}
	u, err := url.Parse(c.apiURL)
	if err != nil {
		return "", err
	}
	// The host as a URL parser normalises it (TypeScript's URL.host): lower case, no default
	// port.
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return fmt.Sprintf("%s%s%s/ports/%d", host, strings.TrimRight(u.EscapedPath(), "/"), path, port), nil
}
