// The shared SDK scenario (../scenario.json) with the Go SDK: the same steps as run.py and
// ts-runner.ts, printing what it observed as one JSON object for scenario.test.ts. The steps
// are grouped by job: sandbox.go, commands.go, files.go, snapshots.go; reconnect.go is the
// reconnect mode.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	wrenn "github.com/wrenn/wrenn/sdks/go"
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

// stepFunc performs one step with its params from scenario.json and reports what it saw.
type stepFunc func(p params) (report, error)

// sbx is the scenario's sandbox (made by lifecycle, replaced by pauseResume's connect); all
// holds every step's params.
var (
	sbx *wrenn.Sandbox
	all map[string]params
)

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
	all = map[string]params{}
	for _, s := range scenario.Steps {
		all[s.ID] = s.Params
	}

	steps := map[string]stepFunc{}
	for _, group := range []map[string]stepFunc{sandboxSteps(), commandSteps(), fileSteps(), snapshotSteps()} {
		for id, body := range group {
			steps[id] = body
		}
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
