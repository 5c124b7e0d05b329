// The Go SDK's secrets and its network options (rules naming a secret, EgressProxy), run by
// tests/cli/secrets.test.ts against a real control plane (WRENN_API_URL, WRENN_API_KEY), as
// secrets_network.py is for Python. Step "create" stores a secret and creates a sandbox whose
// rule names it; "rotate" updates the secret, lists and removes another. Prints JSON.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func main() {
	ctx := context.Background()
	cfg := wrenn.Config{}
	out := map[string]any{}
	switch os.Args[1] {
	case "create":
		added := must(wrenn.AddSecret(ctx, "Go-Key", "go-value-1", map[string]string{"team": "go"}, cfg))
		out["added"] = []any{added.Name, added.CurrentVersion, added.Metadata}
		out["got"] = must(wrenn.GetSecret(ctx, added.ID, cfg)).Name
		_, err := wrenn.SecretPlaceholder("not a name")
		out["fill_refused"] = errors.Is(err, wrenn.ErrInvalidArgument)
		fill := must(wrenn.SecretPlaceholder("go-key"))
		sbx := must(wrenn.Create(ctx, wrenn.CreateOptions{
			Config: cfg,
			Network: &wrenn.NetworkOptions{
				AllowOut: []string{"api.test"},
				Rules: wrenn.HeaderRules{
					"api.test": {wrenn.SetHeaders(map[string]string{"X-Key": fill})},
				},
				EgressProxy: &wrenn.EgressProxy{Address: "203.0.113.9:1080", Username: "ana", Password: "go-socks-pass"},
			},
		}))
		info := must(sbx.GetInfo(ctx))
		out["sandbox_id"] = sbx.ID
		out["rules"] = info.Network.Rules
		out["egress_proxy"] = info.Network.EgressProxy
	case "rotate":
		updated := must(wrenn.UpdateSecret(ctx, "go-key", "go-value-2", nil, cfg))
		out["version"] = updated.CurrentVersion
		out["metadata"] = updated.Metadata
		must(wrenn.AddSecret(ctx, "go-other", "x", nil, cfg))
		listed := []string{}
		for _, s := range must(wrenn.ListSecrets(ctx, cfg)) {
			if strings.HasPrefix(s.Name, "go-") {
				listed = append(listed, s.Name)
			}
		}
		sort.Strings(listed)
		out["listed"] = listed
		if err := wrenn.RemoveSecret(ctx, "go-other", cfg); err != nil {
			panic(err)
		}
		_, err := wrenn.GetSecret(ctx, "go-other", cfg)
		out["removed"] = errors.Is(err, wrenn.ErrNotFound)
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
