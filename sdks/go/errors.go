package wrenn

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind says what sort of failure an Error is. Kinds nest: a SandboxNotFound error is also a
// NotFound one (errors.Is(err, ErrNotFound) holds for both).
type Kind string

// The kinds of failure, named like the other SDKs' error classes.
const (
	KindAuthentication     Kind = "Authentication"
	KindPermissionDenied   Kind = "PermissionDenied"
	KindInvalidArgument    Kind = "InvalidArgument"
	KindNotFound           Kind = "NotFound"
	KindSandboxNotFound    Kind = "SandboxNotFound"
	KindFileNotFound       Kind = "FileNotFound"
	KindConflict           Kind = "Conflict"
	KindSandboxNotRunning  Kind = "SandboxNotRunning"
	KindRateLimit          Kind = "RateLimit"
	KindNotEnoughSpace     Kind = "NotEnoughSpace"
	KindTimeout            Kind = "Timeout"
	KindServer             Kind = "Server"
	KindConnection         Kind = "Connection"
	KindUnexpectedResponse Kind = "UnexpectedResponse"
)

var parents = map[Kind]Kind{
	KindSandboxNotFound:   KindNotFound,
	KindFileNotFound:      KindNotFound,
	KindSandboxNotRunning: KindConflict,
}

// Error is every failure the SDK reports, carrying the server's code and message.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	// Status is the HTTP status of the answer that carried it (0: none).
	Status int
	// RetryAfterSeconds is the server's Retry-After, when it said (RateLimit).
	RetryAfterSeconds int
	Err               error
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

func (e *Error) Unwrap() error { return e.Err }

// Is matches a sentinel of the same kind or of a kind it nests in.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t.Code != "" {
		return false
	}
	for k := e.Kind; k != ""; k = parents[k] {
		if k == t.Kind {
			return true
		}
	}
	return false
}

// Retryable says whether the same call may succeed later unchanged (the contract says).
func (e *Error) Retryable() bool {
	if spec, ok := ErrorCodes[e.Code]; ok {
		return spec.Retryable
	}
	return e.Status >= 500
}

// Sentinels for errors.Is.
var (
	ErrAuthentication     = &Error{Kind: KindAuthentication}
	ErrPermissionDenied   = &Error{Kind: KindPermissionDenied}
	ErrInvalidArgument    = &Error{Kind: KindInvalidArgument}
	ErrNotFound           = &Error{Kind: KindNotFound}
	ErrSandboxNotFound    = &Error{Kind: KindSandboxNotFound}
	ErrFileNotFound       = &Error{Kind: KindFileNotFound}
	ErrConflict           = &Error{Kind: KindConflict}
	ErrSandboxNotRunning  = &Error{Kind: KindSandboxNotRunning}
	ErrRateLimit          = &Error{Kind: KindRateLimit}
	ErrNotEnoughSpace     = &Error{Kind: KindNotEnoughSpace}
	ErrTimeout            = &Error{Kind: KindTimeout}
	ErrServer             = &Error{Kind: KindServer}
	ErrConnection         = &Error{Kind: KindConnection}
	ErrUnexpectedResponse = &Error{Kind: KindUnexpectedResponse}
)

// CommandExitError: a command exited with a non-zero code.
type CommandExitError struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// ErrorText is envd's description ("exit status 3", "signal: killed").
	ErrorText string
}

func (e *CommandExitError) Error() string {
	if e.ErrorText != "" {
		return e.ErrorText
	}
	return fmt.Sprintf("exit status %d", e.ExitCode)
}

// CommandTimeoutError: a command ran past its timeout and was killed (its whole session).
type CommandTimeoutError struct {
	Cmd     string
	PID     uint32
	Timeout float64
	Stdout  string
	Stderr  string
}

func (e *CommandTimeoutError) Error() string {
	return fmt.Sprintf("the command %q (pid %d) ran longer than its timeout of %g s and was killed", e.Cmd, e.PID, e.Timeout)
}

// Is makes a command timeout a Timeout error too.
func (e *CommandTimeoutError) Is(target error) bool { return target == ErrTimeout }

func newError(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// errorForStatus: the contract's registry says what kind a code is; the HTTP status decides
// only for a code this SDK does not know (a newer server).
func errorForStatus(httpStatus int, code, message string, retryAfter int) *Error {
	status := httpStatus
	if spec, ok := ErrorCodes[code]; ok {
		status = spec.Status
	}
	e := &Error{Code: code, Message: message, Status: httpStatus}
	switch {
	case status == 401:
		e.Kind = KindAuthentication
	case status == 403:
		e.Kind = KindPermissionDenied
	case status == 404 && code == "sandbox_not_found":
		e.Kind = KindSandboxNotFound
	case status == 404 && code == "file_not_found":
		e.Kind = KindFileNotFound
	case status == 404:
		e.Kind = KindNotFound
	case status == 409 && (code == "sandbox_not_running" || code == "sandbox_paused"):
		e.Kind = KindSandboxNotRunning
	case status == 409:
		e.Kind = KindConflict
	case status == 429:
		e.Kind = KindRateLimit
		e.RetryAfterSeconds = retryAfter
	case status == 408 || status == 504:
		e.Kind = KindTimeout
	case status == 507:
		e.Kind = KindNotEnoughSpace
	case status >= 400 && status < 500:
		e.Kind = KindInvalidArgument
	default:
		e.Kind = KindServer
	}
	return e
}

// ErrorFromResponse is the error the SDK makes of a non-2xx HTTP answer from a Wrenn server:
// Wrenn's {"error":{"code","message"}}, E2B's {"code":<int>,"message"} or a Connect unary
// error {"code":"<name>","message"}.
func ErrorFromResponse(status int, text string, retryAfter string) *Error {
	after := 0
	if n, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil {
		after = n
	}
	var body map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &body) == nil {
		var inner struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		}
		if raw, ok := body["error"]; ok && json.Unmarshal(raw, &inner) == nil && inner.Code != nil && inner.Message != nil {
			return errorForStatus(status, *inner.Code, *inner.Message, after)
		}
		var message string
		if raw, ok := body["message"]; ok && json.Unmarshal(raw, &message) == nil {
			var code string
			if json.Unmarshal(body["code"], &code) == nil {
				return errorForStatus(status, code, message, after)
			}
			if status == 502 && message == "The sandbox was not found" {
				return &Error{Kind: KindSandboxNotRunning, Code: "sandbox_not_running", Message: message, Status: status}
			}
			code, ok := e2bStatusErrorCodes[status]
			if !ok {
				code = fmt.Sprintf("http_%d", status)
			}
			return errorForStatus(status, code, message, after)
		}
	}
	snippet := strings.TrimSpace(text)
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	detail := ""
	if snippet != "" {
		detail = ": " + snippet
	}
	code := fmt.Sprintf("http_%d", status)
	if status >= 500 {
		return &Error{Kind: KindServer, Code: code, Message: fmt.Sprintf("the server answered %d%s", status, detail), Status: status}
	}
	return &Error{Kind: KindUnexpectedResponse, Code: code, Message: fmt.Sprintf("unexpected answer %d%s (is the URL a Wrenn control plane?)", status, detail), Status: status}
}

// errorFromConnect reads envd's Connect error ({"code":"not_found","message"}).
func errorFromConnect(code, message string, file bool, status int) *Error {
	if code == "" {
		code = "unknown"
	}
	if message == "" {
		message = code
	}
	e := &Error{Code: code, Message: message, Status: status}
	switch code {
	case "not_found":
		e.Kind = KindNotFound
		if file {
			e.Kind = KindFileNotFound
		}
	case "invalid_argument", "out_of_range":
		e.Kind = KindInvalidArgument
	case "already_exists", "failed_precondition", "aborted":
		e.Kind = KindConflict
	case "unauthenticated":
		e.Kind = KindAuthentication
	case "permission_denied":
		e.Kind = KindPermissionDenied
	case "resource_exhausted":
		e.Kind = KindRateLimit
	case "deadline_exceeded":
		e.Kind = KindTimeout
	default:
		e.Kind = KindServer
	}
	return e
}

// KindOf is the kind of any error the SDK returned ("" for others); command errors report
// "CommandExit" and "CommandTimeout".
func KindOf(err error) string {
	var exit *CommandExitError
	var timeout *CommandTimeoutError
	var e *Error
	switch {
	case errors.As(err, &exit):
		return "CommandExit"
	case errors.As(err, &timeout):
		return "CommandTimeout"
	case errors.As(err, &e):
		return string(e.Kind)
	}
	return ""
}
