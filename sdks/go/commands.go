package wrenn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

const processService = "process.Process/"

// Commands runs shell commands (/bin/bash -l -c CMD) in the sandbox.
type Commands struct{ e *envd }

// Pty runs interactive terminals (raw bytes in and out).
type Pty struct{ e *envd }

// CommandResult is how a command ended.
type CommandResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// ErrorText is envd's description when the exit was not clean.
	ErrorText string
}

// RunOptions of Commands.Run and Commands.Start.
type RunOptions struct {
	Envs map[string]string
	Cwd  string
	User string
	// OnStdout and OnStderr get output as it arrives (whole UTF-8 characters), from the
	// handle's goroutine.
	OnStdout func(string)
	OnStderr func(string)
	// Stdin keeps stdin open for SendStdin.
	Stdin bool
	// Timeout kills the command (its whole session) and makes Wait return a
	// *CommandTimeoutError. 0: no limit.
	Timeout time.Duration
	Tag     string
}

// ProcessInfo is a running process.
type ProcessInfo struct {
	PID  uint32
	Tag  string
	Cmd  string
	Args []string
	Cwd  string
}

type processEvent struct {
	Event struct {
		Start *struct {
			PID uint32 `json:"pid"`
		} `json:"start"`
		Data *struct {
			Stdout []byte `json:"stdout"`
			Stderr []byte `json:"stderr"`
			Pty    []byte `json:"pty"`
		} `json:"data"`
		End *struct {
			ExitCode int    `json:"exitCode"`
			Status   string `json:"status"`
			Error    string `json:"error"`
		} `json:"end"`
	} `json:"event"`
}

type selector struct {
	PID uint32 `json:"pid"`
}

// CommandHandle is a started command or terminal; its output is read by a goroutine of its
// own, so a background command never stalls on an unread stream.
type CommandHandle struct {
	PID uint32
	// Reconnects counts how often the output stream broke and came back; LostBytes the
	// output lost across those gaps (0 unless a gap outgrew envd's 4 MiB ring). Read them
	// after Wait.
	Reconnects int
	LostBytes  int64
	cmd        string
	user       string
	timeout    time.Duration
	deadline   time.Time
	sMu        sync.Mutex
	s          *stream
	// offset: output bytes received, where a reconnect asks envd to replay from.
	offset       int64
	disconnected atomic.Bool
	e            *envd
	onOut        func(string)
	onErr        func(string)
	onPty        func([]byte)
	mu           sync.Mutex
	out, err     strings.Builder
	pending      [2][]byte
	done         chan struct{}
	result       *CommandResult
	failure      error
}

// Stdout printed so far.
func (h *CommandHandle) Stdout() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.out.String()
}

// Stderr printed so far.
func (h *CommandHandle) Stderr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err.String()
}

// Wait for the end: the result on exit code 0, else a *CommandExitError, a
// *CommandTimeoutError, or the error that ended the stream.
func (h *CommandHandle) Wait() (*CommandResult, error) {
	<-h.done
	if h.failure != nil {
		return nil, h.failure
	}
	if h.result.ExitCode != 0 {
		r := h.result
		return r, &CommandExitError{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, ErrorText: r.ErrorText}
	}
	return h.result, nil
}

// Kill sends SIGKILL to the command's session; false if it had already ended.
func (h *CommandHandle) Kill(ctx context.Context) (bool, error) { return killProcess(ctx, h.e, h.PID) }

// Disconnect stops following the output; the process keeps running.
func (h *CommandHandle) Disconnect() {
	h.disconnected.Store(true)
	h.stream().close()
}

func (h *CommandHandle) stream() *stream {
	h.sMu.Lock()
	defer h.sMu.Unlock()
	return h.s
}

func (h *CommandHandle) consume() {
	defer close(h.done)
	defer func() { h.stream().close() }()
	for {
		var ev processEvent
		s := h.stream()
		err := s.next(&ev)
		if err != nil {
			var e *Error
			pastDeadline := h.timeout > 0 && time.Now().After(h.deadline)
			if h.timeout > 0 && errors.As(err, &e) && e.Code == "deadline_exceeded" {
				err = h.timeoutError()
			} else if s.silent.Load() && pastDeadline {
				// envd should have killed it at its deadline; make sure, and say so.
				_, _ = killProcess(context.Background(), h.e, h.PID)
				err = h.timeoutError()
			} else if h.disconnected.Load() {
				err = &Error{Kind: KindServer, Code: "disconnected", Message: fmt.Sprintf("stopped following process %d before it ended", h.PID)}
			} else {
				if s.silent.Load() {
					err = &Error{Kind: KindTimeout, Code: "stream_stalled", Message: fmt.Sprintf("the output stream of process %d went silent", h.PID)}
				} else if err == io.EOF {
					err = &Error{Kind: KindServer, Code: "no_end_event", Message: fmt.Sprintf("the stream of process %d ended without an end event", h.PID)}
				}
				if transient(err) {
					// Follow the process again from the bytes received: envd replays the
					// rest from its ring, so nothing is lost or repeated.
					if err = h.reconnect(err); err == nil {
						continue
					}
				}
			}
			h.flush()
			h.failure = err
			return
		}
		switch {
		case ev.Event.Data != nil:
			d := ev.Event.Data
			h.offset += int64(len(d.Pty) + len(d.Stdout) + len(d.Stderr))
			if d.Pty != nil && h.onPty != nil {
				h.onPty(d.Pty)
			}
			if d.Stdout != nil {
				h.text(0, d.Stdout, false)
			}
			if d.Stderr != nil {
				h.text(1, d.Stderr, false)
			}
		case ev.Event.End != nil:
			h.flush()
			end := ev.Event.End
			if h.timeout > 0 && time.Now().After(h.deadline.Add(-250*time.Millisecond)) && end.Status == "signal: killed" {
				h.failure = h.timeoutError()
				return
			}
			h.result = &CommandResult{Stdout: h.Stdout(), Stderr: h.Stderr(), ExitCode: end.ExitCode, ErrorText: end.Error}
			return
		}
	}
}

// transient: failures worth a reconnect (the network, the proxy or the host agent in between,
// a stream cut mid-message or gone silent, envd dropping a slow reader). Not: the process
// being gone, the sandbox paused, a wrong key.
func transient(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Kind {
	case KindConnection, KindServer:
		return e.Code != "stream_lost" && e.Code != "disconnected"
	case KindTimeout:
		return e.Code == "stream_stalled" || e.Code == "request_timeout"
	case KindUnexpectedResponse:
		return e.Code == "protocol_error"
	}
	return e.Code == "resource_exhausted" || e.Code == "unavailable"
}

// reconnect reopens the process's stream from h.offset, retrying with backoff for up to the
// client's ReconnectTimeout; then a stream_lost error.
func (h *CommandHandle) reconnect(cause error) error {
	brokenSince := time.Now()
	last := cause
	for attempt := 1; ; attempt++ {
		waited := time.Since(brokenSince)
		if waited >= h.e.c.reconnect {
			return &Error{Kind: KindConnection, Code: "stream_lost", Err: last, Message: fmt.Sprintf(
				"lost the output stream of process %d and could not reconnect for %d s (%v); it may still be running: Commands.Connect(%d) picks it up",
				h.PID, int(waited.Seconds()), last, h.PID)}
		}
		shift := attempt
		if shift > 5 {
			shift = 5
		}
		backoff := 100 * time.Millisecond << shift
		if backoff > 2*time.Second {
			backoff = 2 * time.Second
		}
		time.Sleep(backoff)
		if h.disconnected.Load() {
			return &Error{Kind: KindServer, Code: "disconnected", Message: fmt.Sprintf("stopped following process %d before it ended", h.PID)}
		}
		extra := http.Header{}
		extra.Set(replayFromHeader, strconv.FormatInt(h.offset, 10))
		s, err := h.e.streamWith(context.Background(), processService+"Connect", map[string]any{"process": selector{h.PID}}, h.user, 0, extra)
		if err == nil {
			var first processEvent
			if err = s.next(&first); err == nil && first.Event.Start == nil {
				err = &Error{Kind: KindUnexpectedResponse, Code: "protocol_error", Message: "the process stream began without its start event"}
			}
			if err != nil {
				s.close()
			}
		}
		if err != nil {
			if !transient(err) {
				return err
			}
			last = err
			continue
		}
		// Where envd's replay really began: later than asked when older output is gone.
		if start, perr := strconv.ParseInt(s.header.Get(replayStartHeader), 10, 64); perr == nil && start > h.offset {
			h.LostBytes += start - h.offset
			h.offset = start
		}
		h.Reconnects++
		h.sMu.Lock()
		old := h.s
		h.s = s
		h.sMu.Unlock()
		old.close()
		// Disconnect sets its flag before closing the current stream: checked after the
		// swap, a Disconnect during the reopen never leaves the new stream followed.
		if h.disconnected.Load() {
			s.close()
			return &Error{Kind: KindServer, Code: "disconnected", Message: fmt.Sprintf("stopped following process %d before it ended", h.PID)}
		}
		return nil
	}
}

func (h *CommandHandle) timeoutError() error {
	return &CommandTimeoutError{Cmd: h.cmd, PID: h.PID, Timeout: h.timeout.Seconds(), Stdout: h.Stdout(), Stderr: h.Stderr()}
}

// text appends output, holding back a UTF-8 sequence split between chunks.
func (h *CommandHandle) text(i int, chunk []byte, final bool) {
	data := append(h.pending[i], chunk...)
	cut := len(data)
	if !final {
		for back := 1; back <= 3 && back <= len(data); back++ {
			b := data[len(data)-back]
			if utf8.RuneStart(b) {
				if !utf8.FullRune(data[len(data)-back:]) {
					cut = len(data) - back
				}
				break
			}
		}
	}
	h.pending[i] = append([]byte(nil), data[cut:]...)
	s := string(data[:cut])
	if s == "" {
		return
	}
	h.mu.Lock()
	if i == 0 {
		h.out.WriteString(s)
	} else {
		h.err.WriteString(s)
	}
	h.mu.Unlock()
	if i == 0 && h.onOut != nil {
		h.onOut(s)
	} else if i == 1 && h.onErr != nil {
		h.onErr(s)
	}
}

func (h *CommandHandle) flush() {
	h.text(0, nil, true)
	h.text(1, nil, true)
}

func open(ctx context.Context, e *envd, method string, msg any, user string, timeout time.Duration, cmd string, onOut, onErr func(string), onPty func([]byte)) (*CommandHandle, error) {
	// The stream outlives ctx: it ends with the process, or on Disconnect. ctx bounds only
	// the wait for the start event.
	s, err := e.stream(context.Background(), processService+method, msg, user, timeout)
	if err != nil {
		return nil, err
	}
	started := make(chan struct{})
	defer close(started)
	go func() {
		select {
		case <-ctx.Done():
			s.close()
		case <-started:
		}
	}()
	var first processEvent
	if err := s.next(&first); err != nil || first.Event.Start == nil {
		s.close()
		if err == nil || err == io.EOF {
			err = &Error{Kind: KindUnexpectedResponse, Code: "protocol_error", Message: "the process stream ended before the process started"}
		}
		return nil, err
	}
	h := &CommandHandle{PID: first.Event.Start.PID, cmd: cmd, user: user, timeout: timeout, deadline: time.Now().Add(timeout), s: s, e: e, onOut: onOut, onErr: onErr, onPty: onPty, done: make(chan struct{})}
	go h.consume()
	return h, nil
}

// Start a command in the background and return its handle.
func (c *Commands) Start(ctx context.Context, cmd string, o RunOptions) (*CommandHandle, error) {
	if cmd == "" {
		return nil, newError(KindInvalidArgument, "invalid_argument", "the command must be a non-empty string")
	}
	if o.Timeout < 0 {
		return nil, newError(KindInvalidArgument, "invalid_argument", "Timeout must be >= 0")
	}
	process := map[string]any{"cmd": "/bin/bash", "args": []string{"-l", "-c", cmd}}
	if o.Envs != nil {
		process["envs"] = o.Envs
	}
	if o.Cwd != "" {
		process["cwd"] = o.Cwd
	}
	msg := map[string]any{"process": process, "stdin": o.Stdin}
	if o.Tag != "" {
		msg["tag"] = o.Tag
	}
	return open(ctx, c.e, "Start", msg, o.User, o.Timeout, cmd, o.OnStdout, o.OnStderr, nil)
}

// Run a command to its end: the result on exit code 0, else a *CommandExitError (or a
// *CommandTimeoutError when its Timeout passed: it was killed).
func (c *Commands) Run(ctx context.Context, cmd string, o RunOptions) (*CommandResult, error) {
	h, err := c.Start(ctx, cmd, o)
	if err != nil {
		return nil, err
	}
	return h.Wait()
}

// Connect follows a running process's output (envd replays what it still holds first).
func (c *Commands) Connect(ctx context.Context, pid uint32, onStdout, onStderr func(string)) (*CommandHandle, error) {
	return open(ctx, c.e, "Connect", map[string]any{"process": selector{pid}}, "", 0, "", onStdout, onStderr, nil)
}

// List the processes running in the sandbox.
func (c *Commands) List(ctx context.Context) ([]ProcessInfo, error) {
	var res struct {
		Processes []struct {
			PID    uint32 `json:"pid"`
			Tag    string `json:"tag"`
			Config struct {
				Cmd  string   `json:"cmd"`
				Args []string `json:"args"`
				Cwd  string   `json:"cwd"`
			} `json:"config"`
		} `json:"processes"`
	}
	if err := c.e.unary(ctx, processService+"List", map[string]any{}, &res, "", false); err != nil {
		return nil, err
	}
	out := make([]ProcessInfo, len(res.Processes))
	for i, p := range res.Processes {
		out[i] = ProcessInfo{PID: p.PID, Tag: p.Tag, Cmd: p.Config.Cmd, Args: p.Config.Args, Cwd: p.Config.Cwd}
	}
	return out, nil
}

// SendStdin writes to the stdin of a process started with Stdin.
func (c *Commands) SendStdin(ctx context.Context, pid uint32, data []byte) error {
	return sendInput(ctx, c.e, pid, "stdin", data)
}

// CloseStdin closes a process's stdin (it sees end-of-file).
func (c *Commands) CloseStdin(ctx context.Context, pid uint32) error {
	return c.e.unary(ctx, processService+"CloseStdin", map[string]any{"process": selector{pid}}, nil, "", false)
}

// Kill sends SIGKILL to a process and its session; false when no such process runs.
func (c *Commands) Kill(ctx context.Context, pid uint32) (bool, error) {
	return killProcess(ctx, c.e, pid)
}

func sendInput(ctx context.Context, e *envd, pid uint32, kind string, data []byte) error {
	msg := map[string]any{"process": selector{pid}, "input": map[string][]byte{kind: data}}
	return e.unary(ctx, processService+"SendInput", msg, nil, "", false)
}

func killProcess(ctx context.Context, e *envd, pid uint32) (bool, error) {
	msg := map[string]any{"process": selector{pid}, "signal": "SIGNAL_SIGKILL"}
	err := e.unary(ctx, processService+"SendSignal", msg, nil, "", false)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PtyOptions of Pty.Create.
type PtyOptions struct {
	Rows, Cols uint32
	// OnData gets the terminal's output (raw bytes) as it arrives.
	OnData  func([]byte)
	User    string
	Cwd     string
	Envs    map[string]string
	Timeout time.Duration
}

func checkSize(rows, cols uint32) error {
	if rows < 1 || rows > 65535 || cols < 1 || cols > 65535 {
		return newError(KindInvalidArgument, "invalid_argument", fmt.Sprintf("rows and cols must be 1-65535, got %d x %d", rows, cols))
	}
	return nil
}

// Create starts a login shell on a new terminal.
func (p *Pty) Create(ctx context.Context, o PtyOptions) (*CommandHandle, error) {
	if err := checkSize(o.Rows, o.Cols); err != nil {
		return nil, err
	}
	envs := map[string]string{"TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
	for k, v := range o.Envs {
		envs[k] = v
	}
	process := map[string]any{"cmd": "/bin/bash", "args": []string{"-i", "-l"}, "envs": envs}
	if o.Cwd != "" {
		process["cwd"] = o.Cwd
	}
	msg := map[string]any{"process": process, "pty": map[string]any{"size": map[string]uint32{"cols": o.Cols, "rows": o.Rows}}}
	return open(ctx, p.e, "Start", msg, o.User, o.Timeout, "", nil, nil, o.OnData)
}

// SendInput sends keystrokes (or any bytes) to the terminal.
func (p *Pty) SendInput(ctx context.Context, pid uint32, data []byte) error {
	return sendInput(ctx, p.e, pid, "pty", data)
}

// Resize the terminal (the program gets SIGWINCH).
func (p *Pty) Resize(ctx context.Context, pid uint32, rows, cols uint32) error {
	if err := checkSize(rows, cols); err != nil {
		return err
	}
	msg := map[string]any{"process": selector{pid}, "pty": map[string]any{"size": map[string]uint32{"cols": cols, "rows": rows}}}
	return p.e.unary(ctx, processService+"Update", msg, nil, "", false)
}

// Kill ends the terminal; false when it was not running.
func (p *Pty) Kill(ctx context.Context, pid uint32) (bool, error) { return killProcess(ctx, p.e, pid) }
