// The shared SDK scenario (../scenario.json) with the Go SDK: the same steps as run.py and
// ts-runner.ts, printing what it observed as one JSON object for scenario.test.ts.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	wrenn "wrenn/sdk"
)

type params map[string]any

func (p params) str(k string) string { return fmt.Sprint(p[k]) }
func (p params) num(k string) int    { return int(p[k].(float64)) }
func (p params) strs(k string) []string {
	var out []string
	for _, v := range p[k].([]any) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

type report map[string]any

var ctx = context.Background()

func eventually(check func() bool, seconds int) bool {
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for {
		if check() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pattern: n bytes where byte i is i*31 mod 251.
type pattern struct{ n, i int }

func (p *pattern) Read(b []byte) (int, error) {
	if p.i >= p.n {
		return 0, io.EOF
	}
	k := 0
	for ; k < len(b) && p.i < p.n; k++ {
		b[k] = byte((p.i * 31) % 251)
		p.i++
	}
	return k, nil
}

func outcome(err error) report {
	if err == nil {
		return report{"error": nil}
	}
	var e *wrenn.Error
	code := ""
	if errors.As(err, &e) {
		code = e.Code
	}
	return report{"error": wrenn.KindOf(err), "code": code}
}

// reconnectCheck: through a proxy that cuts the first process stream (scenario.test.ts), a
// command's output must arrive whole, once, through a reconnect.
func reconnectCheck() {
	sbx, err := wrenn.Create(ctx, wrenn.CreateOptions{})
	if err != nil {
		panic(err)
	}
	defer sbx.Kill(ctx)
	var seen strings.Builder
	h, err := sbx.Commands.Start(ctx, "for i in $(seq 1 30); do echo line$i; sleep 0.05; done", wrenn.RunOptions{
		OnStdout: func(s string) { seen.WriteString(s) },
	})
	if err != nil {
		panic(err)
	}
	r, err := h.Wait()
	if err != nil {
		panic(err)
	}
	json.NewEncoder(os.Stdout).Encode(report{"stdout": r.Stdout, "seen": seen.String(), "reconnects": h.Reconnects, "lostBytes": h.LostBytes})
}

func main() {
	if os.Getenv("WRENN_SCENARIO_RECONNECT") == "1" {
		reconnectCheck()
		return
	}
	dir, _ := os.Executable()
	path := os.Getenv("WRENN_SCENARIO_JSON")
	if path == "" {
		path = filepath.Join(filepath.Dir(dir), "..", "scenario.json")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	var scenario struct {
		Steps []struct {
			ID     string `json:"id"`
			Params params `json:"params"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(raw, &scenario); err != nil {
		panic(err)
	}
	all := map[string]params{}
	for _, s := range scenario.Steps {
		all[s.ID] = s.Params
	}

	var sbx *wrenn.Sandbox
	steps := map[string]func(p params) (report, error){
		"lifecycle": func(p params) (report, error) {
			meta := map[string]string{}
			for k, v := range p["metadata"].(map[string]any) {
				meta[k] = fmt.Sprint(v)
			}
			var err error
			sbx, err = wrenn.Create(ctx, wrenn.CreateOptions{Metadata: meta, Timeout: time.Duration(p.num("timeoutSeconds")) * time.Second})
			if err != nil {
				return nil, err
			}
			info, err := sbx.GetInfo(ctx)
			if err != nil {
				return nil, err
			}
			page, err := wrenn.List(wrenn.ListOptions{Metadata: meta, Limit: 1})
			if err != nil {
				return nil, err
			}
			items, err := page.NextItems(ctx)
			if err != nil {
				return nil, err
			}
			if err := sbx.SetTimeout(ctx, time.Duration(p.num("extendToSeconds"))*time.Second); err != nil {
				return nil, err
			}
			after, err := sbx.GetInfo(ctx)
			if err != nil {
				return nil, err
			}
			metrics, err := sbx.GetMetrics(ctx)
			if err != nil {
				return nil, err
			}
			idOK, _ := regexp.MatchString(`^sb-[0-9a-f]{8}$`, sbx.ID)
			return report{
				"idMatchesContract":       idOK,
				"state":                   info.State,
				"metadata":                info.Metadata,
				"timeoutSeconds":          info.TimeoutSecs,
				"listedWithFilter":        len(items) == 1 && items[0].SandboxID == sbx.ID,
				"endAtExtended":           time.Until(after.EndAt).Seconds() > float64(p.num("timeoutSeconds")),
				"metricsSamples":          len(metrics),
				"metricsCpuCountPositive": len(metrics) > 0 && metrics[0].CPUCount > 0,
			}, nil
		},
		"commands.largeOutput": func(p params) (report, error) {
			r, err := sbx.Commands.Run(ctx, fmt.Sprintf("head -c %d /dev/zero | tr '\\0' a", p.num("bytes")), wrenn.RunOptions{})
			if err != nil {
				return nil, err
			}
			return report{"stdoutLength": len(r.Stdout), "onlyA": r.Stdout == strings.Repeat("a", p.num("bytes")), "exitCode": r.ExitCode}, nil
		},
		"commands.streaming": func(p params) (report, error) {
			var chunks []string
			r, err := sbx.Commands.Run(ctx, p.str("cmd"), wrenn.RunOptions{OnStdout: func(s string) { chunks = append(chunks, s) }})
			if err != nil {
				return nil, err
			}
			return report{"streamed": strings.Join(chunks, ""), "stderr": r.Stderr, "exitCode": r.ExitCode}, nil
		},
		"commands.exitCode": func(p params) (report, error) {
			_, err := sbx.Commands.Run(ctx, p.str("cmd"), wrenn.RunOptions{})
			var e *wrenn.CommandExitError
			if !errors.As(err, &e) {
				return report{"error": wrenn.KindOf(err)}, nil
			}
			return report{"error": wrenn.KindOf(err), "exitCode": e.ExitCode, "stdout": e.Stdout, "stderr": e.Stderr}, nil
		},
		"commands.stdin": func(p params) (report, error) {
			h, err := sbx.Commands.Start(ctx, p.str("cmd"), wrenn.RunOptions{Stdin: true})
			if err != nil {
				return nil, err
			}
			if err := sbx.Commands.SendStdin(ctx, h.PID, []byte(p.str("send"))); err != nil {
				return nil, err
			}
			r, err := h.Wait()
			if err != nil {
				return nil, err
			}
			return report{"stdout": r.Stdout, "exitCode": r.ExitCode}, nil
		},
		"commands.timeout": func(p params) (report, error) {
			_, err := sbx.Commands.Run(ctx, p.str("cmd"), wrenn.RunOptions{Timeout: time.Duration(p.num("timeoutSeconds")) * time.Second})
			var e *wrenn.CommandTimeoutError
			if !errors.As(err, &e) {
				return report{"error": wrenn.KindOf(err)}, err
			}
			gone := eventually(func() bool {
				list, err := sbx.Commands.List(ctx)
				if err != nil {
					return false
				}
				for _, x := range list {
					if x.PID == e.PID {
						return false
					}
				}
				return true
			}, 30)
			return report{"error": wrenn.KindOf(err), "code": "command_timeout", "messageSaysKilled": strings.Contains(err.Error(), "killed"), "stdout": e.Stdout, "stillRunning": !gone}, nil
		},
		"commands.concurrent": func(p params) (report, error) {
			n := p.num("count")
			outputs := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					r, err := sbx.Commands.Run(ctx, fmt.Sprintf("echo $((%d*%d))", i, i), wrenn.RunOptions{})
					if err != nil {
						errs[i] = err
						return
					}
					outputs[i] = strings.TrimSpace(r.Stdout)
				}(i)
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return nil, err
				}
			}
			return report{"outputs": outputs}, nil
		},
		"commands.list": func(p params) (report, error) {
			h, err := sbx.Commands.Start(ctx, p.str("cmd"), wrenn.RunOptions{Tag: p.str("tag")})
			if err != nil {
				return nil, err
			}
			listed := func() bool {
				list, _ := sbx.Commands.List(ctx)
				for _, x := range list {
					if x.PID == h.PID && x.Tag == p.str("tag") {
						return true
					}
				}
				return false
			}
			was := listed()
			killed, err := sbx.Commands.Kill(ctx, h.PID)
			if err != nil {
				return nil, err
			}
			gone := eventually(func() bool { return !listed() }, 30)
			again, err := sbx.Commands.Kill(ctx, h.PID)
			if err != nil {
				return nil, err
			}
			return report{"listed": was, "killed": killed, "listedAfterKill": !gone, "killAgain": again}, nil
		},
		"files.binary": func(p params) (report, error) {
			data := make([]byte, 256)
			for i := range data {
				data[i] = byte(i)
			}
			if _, err := sbx.Files.WriteBytes(ctx, "/tmp/scenario-binary.bin", data, ""); err != nil {
				return nil, err
			}
			back, err := sbx.Files.Read(ctx, "/tmp/scenario-binary.bin", "")
			if err != nil {
				return nil, err
			}
			return report{"size": len(back), "equal": bytes.Equal(back, data)}, nil
		},
		"files.large": func(p params) (report, error) {
			n := p.num("bytes")
			want := sha256.New()
			io.Copy(want, &pattern{n: n})
			wantHex := hex.EncodeToString(want.Sum(nil))
			if _, err := sbx.Files.Write(ctx, p.str("path"), &pattern{n: n}, ""); err != nil {
				return nil, err
			}
			r, err := sbx.Files.ReadStream(ctx, p.str("path"), "")
			if err != nil {
				return nil, err
			}
			got := sha256.New()
			size, err := io.Copy(got, r)
			r.Close()
			if err != nil {
				return nil, err
			}
			remote, err := sbx.Commands.Run(ctx, "sha256sum "+p.str("path"), wrenn.RunOptions{})
			if err != nil {
				return nil, err
			}
			return report{"size": size, "sha256Match": hex.EncodeToString(got.Sum(nil)) == wantHex, "sandboxSha256Match": strings.Fields(remote.Stdout)[0] == wantHex}, nil
		},
		"files.unicode": func(p params) (report, error) {
			path := p.str("dir") + "/" + p.str("name")
			if _, err := sbx.Files.WriteBytes(ctx, path, []byte(p.str("content")), ""); err != nil {
				return nil, err
			}
			entries, err := sbx.Files.List(ctx, p.str("dir"), 1, "")
			if err != nil {
				return nil, err
			}
			names := []string{}
			for _, e := range entries {
				names = append(names, e.Name)
			}
			content, err := sbx.Files.Read(ctx, path, "")
			if err != nil {
				return nil, err
			}
			info, err := sbx.Files.GetInfo(ctx, path, "")
			if err != nil {
				return nil, err
			}
			return report{"names": names, "content": string(content), "type": info.Type}, nil
		},
		"files.ops": func(p params) (report, error) {
			d := p.str("dir")
			made, err := sbx.Files.MakeDir(ctx, d, "")
			if err != nil {
				return nil, err
			}
			again, err := sbx.Files.MakeDir(ctx, d, "")
			if err != nil {
				return nil, err
			}
			if _, err := sbx.Files.WriteBytes(ctx, d+"/a.txt", []byte("hello"), ""); err != nil {
				return nil, err
			}
			exists, err := sbx.Files.Exists(ctx, d+"/a.txt", "")
			if err != nil {
				return nil, err
			}
			renamed, err := sbx.Files.Rename(ctx, d+"/a.txt", d+"/b.txt", "")
			if err != nil {
				return nil, err
			}
			info, err := sbx.Files.GetInfo(ctx, d+"/b.txt", "")
			if err != nil {
				return nil, err
			}
			if err := sbx.Files.Remove(ctx, d, ""); err != nil {
				return nil, err
			}
			_, missing := sbx.Files.Read(ctx, d+"/b.txt", "")
			after, err := sbx.Files.Exists(ctx, d, "")
			if err != nil {
				return nil, err
			}
			return report{"madeDir": made, "madeAgain": again, "existsBefore": exists, "renamedName": renamed.Name, "renamedType": info.Type, "size": info.Size, "existsAfterRemove": after, "missingError": wrenn.KindOf(missing)}, nil
		},
		"files.watch": func(p params) (report, error) {
			if _, err := sbx.Files.MakeDir(ctx, p.str("dir"), ""); err != nil {
				return nil, err
			}
			w, err := sbx.Files.WatchDir(ctx, p.str("dir"), false, "")
			if err != nil {
				return nil, err
			}
			if _, err := sbx.Files.WriteBytes(ctx, p.str("dir")+"/"+p.str("name"), []byte("x"), ""); err != nil {
				return nil, err
			}
			ok := eventually(func() bool {
				events, _ := w.GetNewEvents(ctx)
				for _, e := range events {
					if e.Name == p.str("name") && (e.Type == "create" || e.Type == "write") {
						return true
					}
				}
				return false
			}, 30)
			w.Stop(ctx)
			return report{"sawCreateOrWrite": ok}, nil
		},
		"pty": func(p params) (report, error) {
			var mu sync.Mutex
			var out bytes.Buffer
			text := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
			term, err := sbx.Pty.Create(ctx, wrenn.PtyOptions{Rows: uint32(p.num("rows")), Cols: uint32(p.num("cols")), OnData: func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }})
			if err != nil {
				return nil, err
			}
			first := fmt.Sprintf("%d %d", p.num("rows"), p.num("cols"))
			second := fmt.Sprintf("%d %d", p.num("resizeRows"), p.num("resizeCols"))
			if err := sbx.Pty.SendInput(ctx, term.PID, []byte("stty size\n")); err != nil {
				return nil, err
			}
			eventually(func() bool { return strings.Contains(text(), first) }, 30)
			if err := sbx.Pty.Resize(ctx, term.PID, uint32(p.num("resizeRows")), uint32(p.num("resizeCols"))); err != nil {
				return nil, err
			}
			if err := sbx.Pty.SendInput(ctx, term.PID, []byte("stty size\n")); err != nil {
				return nil, err
			}
			eventually(func() bool { return strings.Contains(text(), second) }, 30)
			if err := sbx.Pty.SendInput(ctx, term.PID, []byte("exit\n")); err != nil {
				return nil, err
			}
			r, err := term.Wait()
			if err != nil {
				return nil, err
			}
			seen := func(s string) any {
				if strings.Contains(text(), s) {
					return s
				}
				return nil
			}
			return report{"sawInitialSize": seen(first), "sawResizedSize": seen(second), "exitCode": r.ExitCode}, nil
		},
		"pauseResume": func(p params) (report, error) {
			if _, err := sbx.Files.WriteBytes(ctx, p.str("path"), []byte(p.str("content")), ""); err != nil {
				return nil, err
			}
			sleeper, err := sbx.Commands.Start(ctx, "sleep 3600", wrenn.RunOptions{})
			if err != nil {
				return nil, err
			}
			paused, err := sbx.Pause(ctx)
			if err != nil {
				return nil, err
			}
			while, err := wrenn.GetInfo(ctx, sbx.ID, wrenn.Config{})
			if err != nil {
				return nil, err
			}
			sbx, err = wrenn.Connect(ctx, sbx.ID, 0, wrenn.Config{})
			if err != nil {
				return nil, err
			}
			after, err := sbx.GetInfo(ctx)
			if err != nil {
				return nil, err
			}
			content, err := sbx.Files.Read(ctx, p.str("path"), "")
			if err != nil {
				return nil, err
			}
			list, err := sbx.Commands.List(ctx)
			if err != nil {
				return nil, err
			}
			kept := false
			for _, x := range list {
				kept = kept || x.PID == sleeper.PID
			}
			return report{"paused": paused, "stateWhilePaused": while.State, "stateAfter": after.State, "content": string(content), "processKept": kept}, nil
		},
		"network": func(p params) (report, error) {
			private := false
			other, err := wrenn.Create(ctx, wrenn.CreateOptions{Network: &wrenn.NetworkOptions{
				AllowOut: p.strs("allowOut"), DenyOut: p.strs("denyOut"), AllowPublicTraffic: &private,
			}})
			if err != nil {
				return nil, err
			}
			defer other.Kill(ctx)
			info, err := other.GetInfo(ctx)
			if err != nil {
				return nil, err
			}
			updated, err := other.UpdateNetwork(ctx, wrenn.NetworkUpdate{AllowOut: p.strs("updateAllowOut")})
			if err != nil {
				return nil, err
			}
			killed, err := other.Kill(ctx)
			if err != nil {
				return nil, err
			}
			return report{
				"tokenPresent":       other.TrafficAccessToken != "",
				"allowPublicTraffic": info.AllowPublicTraffic,
				"network":            info.Network,
				"updated":            updated.Network,
				"killed":             killed,
			}, nil
		},
		"errors": func(p params) (report, error) {
			_, errKey := func() ([]wrenn.SandboxInfo, error) {
				page, err := wrenn.List(wrenn.ListOptions{Config: wrenn.Config{APIKey: p.str("badKey")}})
				if err != nil {
					return nil, err
				}
				return page.NextItems(ctx)
			}()
			_, errUnknown := wrenn.Connect(ctx, p.str("unknownId"), 0, wrenn.Config{})
			_, errForeign := wrenn.Connect(ctx, os.Getenv("WRENN_SCENARIO_FOREIGN_ID"), 0, wrenn.Config{})
			_, errSize := wrenn.Create(ctx, wrenn.CreateOptions{Resources: wrenn.Resources{VCPUs: p.num("vcpus")}})
			return report{"badKey": outcome(errKey), "unknownSandbox": outcome(errUnknown), "foreignSandbox": outcome(errForeign), "badSize": outcome(errSize)}, nil
		},
		"kill": func(p params) (report, error) {
			killed, err := sbx.Kill(ctx)
			if err != nil {
				return nil, err
			}
			unknown, err := wrenn.Kill(ctx, all["errors"].str("unknownId"), wrenn.Config{})
			if err != nil {
				return nil, err
			}
			info, err := wrenn.GetInfo(ctx, sbx.ID, wrenn.Config{})
			if err != nil {
				return nil, err
			}
			return report{"killed": killed, "killUnknown": unknown, "stateAfter": info.State}, nil
		},
	}

	out := report{}
	for _, s := range scenario.Steps {
		body, ok := steps[s.ID]
		switch {
		case !ok:
			out[s.ID] = report{"failed": "this runner does not implement the step"}
		case s.ID != "lifecycle" && sbx == nil:
			out[s.ID] = report{"failed": "no sandbox (lifecycle failed)"}
		default:
			r, err := body(s.Params)
			if err != nil {
				out[s.ID] = report{"failed": fmt.Sprintf("%s: %v", wrenn.KindOf(err), err)}
			} else {
				out[s.ID] = r
			}
		}
	}
	if k, _ := out["kill"].(report); sbx != nil && k["killed"] != true {
		sbx.Kill(ctx)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(out)
}
