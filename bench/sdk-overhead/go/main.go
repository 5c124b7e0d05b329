// bench/sdk-overhead's Go side: the Go SDK beside the same calls made raw with net/http,
// alternating one and the other on one sandbox. Prints one JSON object of ms lists:
// {"exec": {"sdk", "raw"}, "upload": {...}, "download": {...}}. See bench/sdk-overhead.ts.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

var (
	ctx    = context.Background()
	apiURL = os.Getenv("WRENN_API_URL")
	key    = os.Getenv("WRENN_API_KEY")
	id     = os.Getenv("BENCH_SANDBOX_ID")
	token  = os.Getenv("BENCH_ENVD_TOKEN")
	prefix = fmt.Sprintf("%s/v1/sandboxes/%s/ports/%d", apiURL, url.PathEscape(id), wrenn.EnvdPort)
	path   = "/tmp/bench-overhead-go.bin"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// raw sends one request to envd through the control plane; it returns the body's size and its
// first 64 KiB (the rest is discarded as it comes, as the SDK's stream is).
func raw(method, p string, body io.Reader, contentType string) (int64, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, prefix+p, body)
	must(err)
	req.Header.Set("X-API-Key", key)
	req.Header.Set("X-Access-Token", token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Connect-Protocol-Version", "1")
	}
	res, err := http.DefaultClient.Do(req)
	must(err)
	defer res.Body.Close()
	var head bytes.Buffer
	n, err := io.Copy(io.Discard, io.TeeReader(res.Body, &limited{&head, 64 << 10}))
	must(err)
	if res.StatusCode != 200 {
		panic(fmt.Sprintf("%s %s: %d %.200s", method, p, res.StatusCode, head.Bytes()))
	}
	return n, head.Bytes()
}

// limited keeps the first max bytes written to it.
type limited struct {
	buf *bytes.Buffer
	max int
}

func (l *limited) Write(b []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(b) < room {
			room = len(b)
		}
		l.buf.Write(b[:room])
	}
	return len(b), nil
}

func pair(runs int, sdk, rawCall func()) map[string][]float64 {
	out := map[string][]float64{"sdk": {}, "raw": {}}
	sdk()
	rawCall() // one of each to warm up
	for i := 0; i < runs; i++ {
		for _, c := range []struct {
			name string
			call func()
		}{{"sdk", sdk}, {"raw", rawCall}} {
			t := time.Now()
			c.call()
			out[c.name] = append(out[c.name], float64(time.Since(t).Microseconds())/1000)
		}
	}
	return out
}

func main() {
	runs, transfers := envInt("BENCH_RUNS", 20), envInt("BENCH_TRANSFERS", 3)
	size := envInt("BENCH_MIB", 100) * 1024 * 1024
	data := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), size/256)
	sbx, err := wrenn.Connect(ctx, id, 0, wrenn.Config{APIKey: key, APIURL: apiURL, RequestTimeout: 600 * time.Second})
	must(err)
	q := "?" + url.Values{"path": {path}}.Encode()
	report := map[string]any{
		"exec": pair(runs, func() {
			_, err := sbx.Commands.Run(ctx, "true", wrenn.RunOptions{})
			must(err)
		}, func() {
			msg, _ := json.Marshal(map[string]any{"process": map[string]any{"cmd": "/bin/bash", "args": []string{"-l", "-c", "true"}}})
			frame := make([]byte, 5, 5+len(msg))
			binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
			_, out := raw("POST", "/process.Process/Start", bytes.NewReader(append(frame, msg...)), "application/connect+json")
			if !bytes.Contains(out, []byte(`"end"`)) {
				panic("no end event")
			}
		}),
		"upload": pair(transfers, func() {
			_, err := sbx.Files.Write(ctx, path, bytes.NewReader(data), "")
			must(err)
		}, func() {
			raw("POST", "/files"+q, bytes.NewReader(data), "application/octet-stream")
		}),
		"download": pair(transfers, func() {
			r, err := sbx.Files.ReadStream(ctx, path, "")
			must(err)
			n, err := io.Copy(io.Discard, r)
			r.Close()
			must(err)
			if n != int64(size) {
				panic("short download")
			}
		}, func() {
			if n, _ := raw("GET", "/files"+q, nil, ""); n != int64(size) {
				panic("short download")
			}
		}),
	}
	must(json.NewEncoder(os.Stdout).Encode(report))
}
