package wrenn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
