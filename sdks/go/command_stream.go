package wrenn

// How a started command's output is read: the goroutine that follows envd's stream, the
// reconnect after a transient cut, and the UTF-8-safe text buffers (commands.go starts it).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

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
