package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

// fileSteps: the files.* steps and the terminal.
func fileSteps() map[string]stepFunc {
	return map[string]stepFunc{
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
