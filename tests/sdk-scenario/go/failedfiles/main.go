// Reads a failed sandbox's files with Client.Sandboxes against the stack at WRENN_API_URL: the
// sandbox WRENN_FAILED_ID is in state error, WRENN_RUNNING_ID runs. Prints one JSON object,
// which failed-files.test.ts holds to what failed_files.py prints for the same stack.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"sort"
	"time"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

var ctx = context.Background()

type report = map[string]any

func outcome(err error) report {
	if err == nil {
		return report{"error": nil}
	}
	var e *wrenn.Error
	if !errors.As(err, &e) {
		return report{"error": err.Error()}
	}
	return report{"error": wrenn.KindOf(err), "code": e.Code, "retryable": e.Retryable()}
}

// whenFree retries a read refused with files_read_busy (retryable: a read that just ended
// frees the sandbox once its reader container is removed, seconds on a busy host).
func whenFree(read func() (io.ReadCloser, error)) (io.ReadCloser, error) {
	deadline := time.Now().Add(180 * time.Second)
	for {
		r, err := read()
		var e *wrenn.Error
		if err == nil || !errors.As(err, &e) || e.Code != "files_read_busy" || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func readAll(read func() (io.ReadCloser, error)) ([]byte, error) {
	r, err := whenFree(read)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func main() {
	failed, running := os.Getenv("WRENN_FAILED_ID"), os.Getenv("WRENN_RUNNING_ID")
	files := must(wrenn.NewClient(wrenn.Config{})).Sandboxes
	file := func(id, path string) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return files.ReadFile(ctx, id, path, wrenn.ReadOptions{}) }
	}
	archive := func(id, path string) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return files.Archive(ctx, id, path, wrenn.ReadOptions{}) }
	}
	out := report{}
	out["file"] = string(must(readAll(file(failed, "/home/user/out/a.txt"))))
	out["homeRelative"] = string(must(readAll(file(failed, "out/a.txt"))))

	stream := must(whenFree(file(failed, "/home/user/out/big.bin")))
	digest := sha256.New()
	size := must(io.Copy(digest, stream))
	stream.Close()
	out["streamed"] = report{"size": size, "sha256": hex.EncodeToString(digest.Sum(nil))}

	tr := tar.NewReader(bytes.NewReader(must(readAll(archive(failed, "/home/user/out")))))
	names := []string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(h, err)
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
			if h.Name == "out/a.txt" {
				out["archiveFile"] = string(must(io.ReadAll(tr)))
			}
		}
	}
	sort.Strings(names)
	out["archiveNames"] = names

	_, err := readAll(file(failed, "/home/user/nope"))
	out["missing"] = outcome(err)
	// One read at a time per sandbox: a second one while a first is held open is refused.
	held := must(whenFree(archive(failed, "/usr")))
	must(held.Read(make([]byte, 1)))
	_, err = files.ReadFile(ctx, failed, "/home/user/out/a.txt", wrenn.ReadOptions{})
	out["busy"] = outcome(err)
	held.Close()
	out["afterBusy"] = string(must(readAll(file(failed, "/home/user/out/a.txt"))))

	_, err = files.Archive(ctx, running, "/home/user", wrenn.ReadOptions{})
	out["runningArchive"] = outcome(err)
	_, err = files.ReadFile(ctx, "sb-00000000", "/etc/hostname", wrenn.ReadOptions{})
	out["unknownSandbox"] = outcome(err)
	must(0, json.NewEncoder(os.Stdout).Encode(out))
}
