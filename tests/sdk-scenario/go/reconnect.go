package main

import (
	"encoding/json"
	"os"
	"strings"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

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
