package main

import (
	"fmt"
	"os"
	"regexp"
	"time"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

// sandboxSteps: the sandbox's life (create, pause and resume, network, errors, kill).
func sandboxSteps() map[string]stepFunc {
	return map[string]stepFunc{
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
			idOK, _ := regexp.MatchString(wrenn.SandboxIDPattern, sbx.ID)
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
}
