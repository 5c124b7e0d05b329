// Reads [{"status", "body", "retryAfter"}] on stdin; prints the error the Go SDK makes of
// each HTTP answer ({"kind", "code", "retryable"}), for error-kinds.test.ts.
package main

import (
	"encoding/json"
	"os"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

func main() {
	var cases []struct {
		Status     int    `json:"status"`
		Body       string `json:"body"`
		RetryAfter string `json:"retryAfter"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []map[string]any{}
	for _, c := range cases {
		e := wrenn.ErrorFromResponse(c.Status, c.Body, c.RetryAfter)
		out = append(out, map[string]any{"kind": string(e.Kind), "code": e.Code, "retryable": e.Retryable()})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
