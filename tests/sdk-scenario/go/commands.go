package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

// commandSteps: the commands.* steps of the scenario.
func commandSteps() map[string]stepFunc {
	return map[string]stepFunc{
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
	}
}
