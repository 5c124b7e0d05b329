package wrenn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// envd inside one sandbox, through the control plane's proxy at
// /v1/sandboxes/{id}/ports/49983/...: envd speaks Connect, used here with its JSON codec
// (application/json unary calls, application/connect+json envelopes for server streams).
type envd struct {
	c     *client
	base  string
	token string
}

func newEnvd(c *client, id, token string) *envd {
	return &envd{c: c, base: fmt.Sprintf("%s/v1/sandboxes/%s/ports/%d", c.apiURL, url.PathEscape(id), EnvdPort), token: token}
}

func (e *envd) request(ctx context.Context, method, target string, body io.Reader, user string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(envdTokenHeader, e.token)
	if user != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":")))
	}
	return req, nil
}

// failure reads a refusal: the proxy's (Wrenn's or E2B's shape) or envd's Connect error.
func failure(res *http.Response, file bool) error {
	text, _ := io.ReadAll(res.Body)
	var connect struct {
		Code    *string          `json:"code"`
		Message string           `json:"message"`
		Error   *json.RawMessage `json:"error"`
	}
	if json.Unmarshal(text, &connect) == nil && connect.Code != nil && connect.Error == nil {
		return errorFromConnect(*connect.Code, connect.Message, file, res.StatusCode)
	}
	return ErrorFromResponse(res.StatusCode, string(text), res.Header.Get("Retry-After"))
}

// unary calls a Connect method ("filesystem.Filesystem/Stat").
func (e *envd) unary(ctx context.Context, method string, in, out any, user string, file bool) error {
	ctx, cancel := context.WithTimeout(ctx, e.c.timeout)
	defer cancel()
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := e.request(ctx, http.MethodPost, e.base+"/"+method, bytes.NewReader(data), user)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	res, err := e.c.do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return failure(res, file)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil && err != io.EOF {
		return &Error{Kind: KindUnexpectedResponse, Code: "unexpected_response", Message: fmt.Sprintf("envd answered %s with %v", method, err), Err: err}
	}
	return nil
}

// stream is a Connect server stream: messages until the end message; an error there is
// returned as the SDK's typed error.
type stream struct {
	body   io.ReadCloser
	r      *bufio.Reader
	cancel context.CancelFunc
	file   bool
	header http.Header
	// A stream with no message for this long (keepalives included) is cut: silent is set.
	watchdog *time.Timer
	silent   atomic.Bool
}

// streamSilence: three missed keepalives.
const streamSilence = 3 * keepaliveSeconds * time.Second

func (e *envd) stream(ctx context.Context, method string, in any, user string, timeout time.Duration) (*stream, error) {
	return e.streamWith(ctx, method, in, user, timeout, nil)
}

// streamWith opens a server stream with extra request headers (the replay offset of a
// reconnect); the answer's headers are kept on the stream.
func (e *envd) streamWith(ctx context.Context, method string, in any, user string, timeout time.Duration, extra http.Header) (*stream, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 5+len(data))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(data)))
	copy(frame[5:], data)
	ctx, cancel := context.WithCancel(ctx)
	req, err := e.request(ctx, http.MethodPost, e.base+"/"+method, bytes.NewReader(frame), user)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/connect+json")
	req.Header.Set("Connect-Protocol-Version", "1")
	req.Header.Set("Keepalive-Ping-Interval", strconv.Itoa(keepaliveSeconds))
	if timeout > 0 {
		req.Header.Set("Connect-Timeout-Ms", strconv.FormatInt(timeout.Milliseconds(), 10))
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	// The answer's headers must come within the request timeout; the stream may then run long.
	timer := time.AfterFunc(e.c.timeout, cancel)
	res, err := e.c.do(req)
	timer.Stop()
	if err != nil {
		cancel()
		return nil, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		defer cancel()
		return nil, failure(res, false)
	}
	s := &stream{body: res.Body, r: bufio.NewReader(res.Body), cancel: cancel, header: res.Header}
	s.watchdog = time.AfterFunc(streamSilence, func() {
		s.silent.Store(true)
		cancel()
	})
	return s, nil
}

// next decodes the next message into out; io.EOF at a clean end.
func (s *stream) next(out any) error {
	var head [5]byte
	if _, err := io.ReadFull(s.r, head[:]); err != nil {
		if err == io.EOF {
			return &Error{Kind: KindUnexpectedResponse, Code: "protocol_error", Message: "envd's stream ended without its end message"}
		}
		return &Error{Kind: KindConnection, Code: "connection_lost", Message: fmt.Sprintf("the stream broke (%v)", err), Err: err}
	}
	s.watchdog.Reset(streamSilence)
	data := make([]byte, binary.BigEndian.Uint32(head[1:]))
	if _, err := io.ReadFull(s.r, data); err != nil {
		return &Error{Kind: KindConnection, Code: "connection_lost", Message: fmt.Sprintf("the stream broke (%v)", err), Err: err}
	}
	if head[0]&0x02 != 0 {
		var end struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &end) == nil && end.Error != nil {
			return errorFromConnect(end.Error.Code, end.Error.Message, s.file, 0)
		}
		return io.EOF
	}
	return json.Unmarshal(data, out)
}

func (s *stream) close() {
	s.watchdog.Stop()
	s.cancel()
	s.body.Close()
}

func (e *envd) filesURL(path, user string) string {
	q := url.Values{"path": {path}}
	if user != "" {
		q.Set("username", user)
	}
	return e.base + "/files?" + q.Encode()
}
