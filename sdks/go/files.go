package wrenn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

const filesystemService = "filesystem.Filesystem/"

// Files reads and writes files through envd's /files, and lists, stats, creates, moves,
// removes and watches through its filesystem service. Paths are absolute or relative to the
// user's home.
type Files struct{ e *envd }

// FileType of an entry: "file", "dir" or "symlink".
type FileType string

// The entry types.
const (
	TypeFile    FileType = "file"
	TypeDir     FileType = "dir"
	TypeSymlink FileType = "symlink"
)

var fileTypes = map[string]FileType{"FILE_TYPE_FILE": TypeFile, "FILE_TYPE_DIRECTORY": TypeDir, "FILE_TYPE_SYMLINK": TypeSymlink}

// EntryInfo is a file or directory.
type EntryInfo struct {
	Name          string
	Type          FileType
	Path          string
	Size          int64
	Mode          uint32
	Permissions   string
	Owner         string
	Group         string
	ModifiedTime  time.Time
	SymlinkTarget string
}

type wireEntry struct {
	Name          string      `json:"name"`
	Type          string      `json:"type"`
	Path          string      `json:"path"`
	Size          json.Number `json:"size"`
	Mode          uint32      `json:"mode"`
	Permissions   string      `json:"permissions"`
	Owner         string      `json:"owner"`
	Group         string      `json:"group"`
	ModifiedTime  time.Time   `json:"modifiedTime"`
	SymlinkTarget string      `json:"symlinkTarget"`
}

func (w wireEntry) entry() (EntryInfo, bool) {
	t, ok := fileTypes[w.Type]
	size, _ := w.Size.Int64()
	return EntryInfo{Name: w.Name, Type: t, Path: w.Path, Size: size, Mode: w.Mode, Permissions: w.Permissions, Owner: w.Owner, Group: w.Group, ModifiedTime: w.ModifiedTime, SymlinkTarget: w.SymlinkTarget}, ok
}

// FilesystemEvent is one change in a watched directory.
type FilesystemEvent struct {
	// Name relative to the watched directory.
	Name string
	// Type: "create", "write", "remove", "rename" or "chmod".
	Type string
}

func checkPath(path string) error {
	if path == "" || strings.ContainsRune(path, 0) {
		return newError(KindInvalidArgument, "invalid_argument", "a path must be a non-empty string without NUL bytes")
	}
	return nil
}

// ReadStream opens a file for reading as it downloads (any size); close it.
func (f *Files) ReadStream(ctx context.Context, path, user string) (io.ReadCloser, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	req, err := f.e.request(ctx, http.MethodGet, f.e.filesURL(path, user), nil, "")
	if err != nil {
		return nil, err
	}
	res, err := f.e.c.do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		defer res.Body.Close()
		return nil, failure(res, true)
	}
	return res.Body, nil
}

// Read a whole file.
func (f *Files) Read(ctx context.Context, path, user string) ([]byte, error) {
	r, err := f.ReadStream(ctx, path, user)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &Error{Kind: KindConnection, Code: "connection_lost", Message: err.Error(), Err: err}
	}
	return data, nil
}

// Write a file from a reader, streamed (any size); parents are created.
func (f *Files) Write(ctx context.Context, path string, data io.Reader, user string) (EntryInfo, error) {
	if err := checkPath(path); err != nil {
		return EntryInfo{}, err
	}
	req, err := f.e.request(ctx, http.MethodPost, f.e.filesURL(path, user), data, "")
	if err != nil {
		return EntryInfo{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := f.e.c.do(req)
	if err != nil {
		return EntryInfo{}, err
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return EntryInfo{}, failure(res, true)
	}
	var written []struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	if err := json.NewDecoder(res.Body).Decode(&written); err != nil || len(written) == 0 {
		return EntryInfo{}, &Error{Kind: KindUnexpectedResponse, Code: "unexpected_response", Message: "envd's answer to an upload is not a list of files"}
	}
	return EntryInfo{Name: written[0].Name, Path: written[0].Path, Type: TypeFile}, nil
}

// WriteBytes writes a file from memory.
func (f *Files) WriteBytes(ctx context.Context, path string, data []byte, user string) (EntryInfo, error) {
	return f.Write(ctx, path, bytes.NewReader(data), user)
}

// List a directory's entries, depth levels deep (0: 1).
func (f *Files) List(ctx context.Context, path string, depth uint32, user string) ([]EntryInfo, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if depth == 0 {
		depth = 1
	}
	var res struct {
		Entries []wireEntry `json:"entries"`
	}
	if err := f.e.unary(ctx, filesystemService+"ListDir", map[string]any{"path": path, "depth": depth}, &res, user, true); err != nil {
		return nil, err
	}
	out := []EntryInfo{}
	for _, w := range res.Entries {
		if e, ok := w.entry(); ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// GetInfo of a file or directory.
func (f *Files) GetInfo(ctx context.Context, path, user string) (EntryInfo, error) {
	if err := checkPath(path); err != nil {
		return EntryInfo{}, err
	}
	return f.entryCall(ctx, "Stat", map[string]any{"path": path}, user)
}

func (f *Files) entryCall(ctx context.Context, method string, msg any, user string) (EntryInfo, error) {
	var res struct {
		Entry *wireEntry `json:"entry"`
	}
	if err := f.e.unary(ctx, filesystemService+method, msg, &res, user, true); err != nil {
		return EntryInfo{}, err
	}
	if res.Entry == nil {
		return EntryInfo{}, &Error{Kind: KindUnexpectedResponse, Code: "unexpected_response", Message: "envd gave no entry"}
	}
	e, _ := res.Entry.entry()
	return e, nil
}

// Exists says whether a path exists.
func (f *Files) Exists(ctx context.Context, path, user string) (bool, error) {
	_, err := f.GetInfo(ctx, path, user)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MakeDir creates a directory and its parents; false if it already existed.
func (f *Files) MakeDir(ctx context.Context, path, user string) (bool, error) {
	if err := checkPath(path); err != nil {
		return false, err
	}
	err := f.e.unary(ctx, filesystemService+"MakeDir", map[string]any{"path": path}, nil, user, true)
	var e *Error
	if errors.As(err, &e) && e.Code == "already_exists" {
		return false, nil
	}
	return err == nil, err
}

// Rename moves a file or directory.
func (f *Files) Rename(ctx context.Context, oldPath, newPath, user string) (EntryInfo, error) {
	if err := checkPath(oldPath); err != nil {
		return EntryInfo{}, err
	}
	if err := checkPath(newPath); err != nil {
		return EntryInfo{}, err
	}
	return f.entryCall(ctx, "Move", map[string]any{"source": oldPath, "destination": newPath}, user)
}

// Remove a file, or a directory with everything in it.
func (f *Files) Remove(ctx context.Context, path, user string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	return f.e.unary(ctx, filesystemService+"Remove", map[string]any{"path": path}, nil, user, true)
}

// WatchHandle is a directory watch: GetNewEvents returns what happened since the last call.
type WatchHandle struct {
	f  *Files
	id string
}

// WatchDir starts watching a directory.
func (f *Files) WatchDir(ctx context.Context, path string, recursive bool, user string) (*WatchHandle, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	var res struct {
		WatcherID string `json:"watcherId"`
	}
	if err := f.e.unary(ctx, filesystemService+"CreateWatcher", map[string]any{"path": path, "recursive": recursive}, &res, user, true); err != nil {
		return nil, err
	}
	return &WatchHandle{f: f, id: res.WatcherID}, nil
}

// GetNewEvents since the last call.
func (w *WatchHandle) GetNewEvents(ctx context.Context) ([]FilesystemEvent, error) {
	var res struct {
		Events []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"events"`
	}
	if err := w.f.e.unary(ctx, filesystemService+"GetWatcherEvents", map[string]any{"watcherId": w.id}, &res, "", true); err != nil {
		return nil, err
	}
	out := make([]FilesystemEvent, 0, len(res.Events))
	for _, e := range res.Events {
		out = append(out, FilesystemEvent{Name: e.Name, Type: strings.ToLower(strings.TrimPrefix(e.Type, "EVENT_TYPE_"))})
	}
	return out, nil
}

// Stop watching.
func (w *WatchHandle) Stop(ctx context.Context) error {
	err := w.f.e.unary(ctx, filesystemService+"RemoveWatcher", map[string]any{"watcherId": w.id}, nil, "", true)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
