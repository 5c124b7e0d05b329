package wrenn

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// Sandboxes reads a sandbox's files by id without attaching to it, as the TypeScript SDK's
// sandboxes.readFile() / .archive(): through envd while it runs; from its disk once it failed
// (state error: its processes are gone, its files are kept), read on its host by a read-only
// gVisor container, so a link is followed inside the sandbox, never on the host.
//
// The reads of a failed sandbox's disk have their own codes (the contract's):
// files_unavailable (KindConflict: its disk is gone), files_read_busy (KindConflict,
// Retryable(): another read of it runs, or its host runs as many as it allows; try again
// shortly), files_read_too_large (KindInvalidArgument, 413) and files_read_timeout
// (KindTimeout, 408).
type Sandboxes struct{ c *client }

// ReadOptions: User whose home a relative path starts in (default the sandbox's user).
type ReadOptions struct {
	User string
}

// ReadFile streams one file of the sandbox; close it. ErrFileNotFound for no such file.
func (s *Sandboxes) ReadFile(ctx context.Context, sandboxID, path string, o ReadOptions) (io.ReadCloser, error) {
	return s.read(ctx, "files", sandboxID, path, o)
}

// Archive streams a tar (uncompressed) of a failed sandbox's path and everything under it,
// names relative to the path's parent, links stored as links; close it. KindConflict for a
// sandbox that is not in state error (a running one's files come through ReadFile).
func (s *Sandboxes) Archive(ctx context.Context, sandboxID, path string, o ReadOptions) (io.ReadCloser, error) {
	return s.read(ctx, "archive", sandboxID, path, o)
}

func (s *Sandboxes) read(ctx context.Context, route, sandboxID, path string, o ReadOptions) (io.ReadCloser, error) {
	base, err := sandboxPath(sandboxID)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, newError(KindInvalidArgument, "invalid_argument", "a path must be a non-empty string")
	}
	query := url.Values{"path": {path}}
	if o.User != "" {
		query.Set("user", o.User)
	}
	// No deadline of the SDK's own: the host starts a reader container first and bounds the
	// read itself (FILES_RESCUE_LIMITS); ctx ends it early.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.c.apiURL+base+"/"+route+"?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	res, err := s.c.do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		text, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return nil, ErrorFromResponse(res.StatusCode, string(text), res.Header.Get("Retry-After"))
	}
	return res.Body, nil
}
