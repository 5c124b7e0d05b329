// Reads [{"apiUrl", "domain", "id", "port"}] on stdin; prints, for each, what the Go SDK's
// GetHost gives ({"host"}) or the error's code ({"error"}). port-hosts.test.ts
// holds it to what the TypeScript SDK gives for the same cases.
package main

import (
	"encoding/json"
	"errors"
	"os"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

func main() {
	var cases []struct {
		APIURL string `json:"apiUrl"`
		Domain string `json:"domain"`
		ID     string `json:"id"`
		Port   int    `json:"port"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := []map[string]string{}
	for _, c := range cases {
		cfg := wrenn.Config{APIKey: "k", APIURL: c.APIURL, Domain: c.Domain}
		host, err := wrenn.GetHost(c.ID, c.Port, cfg)
		if err != nil {
			var e *wrenn.Error
			if !errors.As(err, &e) {
				panic(err)
			}
			out = append(out, map[string]string{"error": e.Code})
			continue
		}
		out = append(out, map[string]string{"host": host})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
