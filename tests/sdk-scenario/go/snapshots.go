package main

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"

	wrenn "github.com/wrenn/wrenn/sdks/go"
)

// snapshotSteps: snapshots, a sandbox restored from one, a fork, templates and workspaces.
func snapshotSteps() map[string]stepFunc {
	return map[string]stepFunc{
		"templates": func(p params) (report, error) {
			client, err := wrenn.NewClient(wrenn.Config{})
			if err != nil {
				return nil, err
			}
			list, err := client.Templates.List(ctx)
			if err != nil {
				return nil, err
			}
			got, err := client.Templates.Get(ctx, p.str("name"))
			if err != nil {
				return nil, err
			}
			listed := false
			for _, t := range list {
				listed = listed || t.Name == p.str("name")
			}
			return report{"listedByName": listed, "name": got.Name, "status": got.Status, "usable": got.Usable}, nil
		},
		"workspaces": func(p params) (report, error) {
			client, err := wrenn.NewClient(wrenn.Config{})
			if err != nil {
				return nil, err
			}
			ws := client.Workspaces
			list, err := ws.List(ctx)
			_, errUnknown := ws.Get(ctx, p.str("unknownName"))
			out := report{"listed": err == nil && list != nil, "unknown": outcome(errUnknown)}
			// A suffix of this runner's: the runners share one stack and key.
			suffix := make([]byte, 3)
			if _, err := rand.Read(suffix); err != nil {
				return nil, err
			}
			name := p.str("name") + "-" + hex.EncodeToString(suffix)
			created, err := ws.Create(ctx, name, wrenn.WorkspaceOptions{VCPUs: p.num("vcpus"), MemoryMB: p.num("memoryMb"), DiskGB: p.num("diskGb")})
			if err != nil {
				return nil, err
			}
			destroyed := false
			defer func() {
				if !destroyed {
					_ = ws.Destroy(ctx, name)
				}
			}()
			out["created"] = report{"state": created.State, "vcpus": created.VCPUs, "memoryMb": created.MemoryMB, "diskGb": created.DiskGB, "image": created.Image}
			got, err := ws.Get(ctx, name)
			if err != nil {
				return nil, err
			}
			out["gotState"] = got.State
			all, err := ws.List(ctx)
			if err != nil {
				return nil, err
			}
			out["listedCreated"] = false
			for _, w := range all {
				if w.Name == name {
					out["listedCreated"] = true
				}
			}
			suspended, err := ws.Suspend(ctx, name)
			if err != nil {
				return nil, err
			}
			out["suspended"] = suspended.State
			resumed, err := ws.Resume(ctx, name)
			if err != nil {
				return nil, err
			}
			out["resumed"] = resumed.State
			if err := ws.Destroy(ctx, name); err != nil {
				return nil, err
			}
			destroyed = true
			_, errGone := ws.Get(ctx, name)
			out["destroyedGet"] = outcome(errGone)
			return out, nil
		},
		"snapshots": func(p params) (report, error) {
			client, err := wrenn.NewClient(wrenn.Config{})
			if err != nil {
				return nil, err
			}
			if _, err := sbx.Files.WriteBytes(ctx, p.str("path"), []byte(p.str("content")), ""); err != nil {
				return nil, err
			}
			snap, err := client.Snapshots.Create(ctx, sbx.ID, p.str("name"))
			if err != nil {
				return nil, err
			}
			got, err := client.Snapshots.Get(ctx, snap.ID)
			if err != nil {
				return nil, err
			}
			page, err := client.Snapshots.List(ctx, wrenn.SnapshotListOptions{SandboxID: sbx.ID})
			if err != nil {
				return nil, err
			}
			listed := false
			for _, s := range page.Snapshots {
				listed = listed || s.ID == snap.ID
			}
			restoredContent, restoredKilled, err := readAndKill(func() (*wrenn.Sandbox, error) {
				return wrenn.Create(ctx, wrenn.CreateOptions{Template: snap.ID})
			}, p.str("path"))
			if err != nil {
				return nil, err
			}
			forks, err := client.Snapshots.Fork(ctx, sbx.ID, wrenn.ForkOptions{Count: 1})
			if err != nil {
				return nil, err
			}
			var forkContent any
			forkKilled := false
			for i, f := range forks {
				if f.Sandbox == nil {
					continue
				}
				if i > 0 {
					wrenn.Kill(ctx, f.Sandbox.SandboxID, wrenn.Config{})
					continue
				}
				id := f.Sandbox.SandboxID
				forkContent, forkKilled, err = readAndKill(func() (*wrenn.Sandbox, error) {
					return wrenn.Connect(ctx, id, 0, wrenn.Config{})
				}, p.str("path"))
				if err != nil {
					return nil, err
				}
			}
			if err := client.Snapshots.Delete(ctx, snap.ID); err != nil {
				return nil, err
			}
			_, errDeleted := client.Snapshots.Get(ctx, snap.ID)
			templates, err := client.Templates.List(ctx)
			_, errTemplate := client.Templates.Get(ctx, p.str("unknownTemplate"))
			idOK, _ := regexp.MatchString(wrenn.SnapshotIDPattern, snap.ID)
			var name any
			if snap.Name != nil {
				name = *snap.Name
			}
			return report{
				"idMatchesContract":    idOK,
				"name":                 name,
				"sourceSandboxMatches": snap.SourceSandboxID == sbx.ID,
				"sizePositive":         snap.SizeBytes > 0,
				"gotSameId":            got.ID == snap.ID,
				"listedBySource":       listed,
				"restoredContent":      restoredContent,
				"restoredKilled":       restoredKilled,
				"forks":                len(forks),
				"forkContent":          forkContent,
				"forkKilled":           forkKilled,
				"deletedGet":           outcome(errDeleted),
				"templatesListed":      err == nil && templates != nil,
				"unknownTemplate":      outcome(errTemplate),
			}, nil
		},
	}
}

// readAndKill opens a sandbox, reads path in it and kills it (killing it also when the read
// failed): what the file held, and whether the kill found it.
func readAndKill(open func() (*wrenn.Sandbox, error), path string) (any, bool, error) {
	s, err := open()
	if err != nil {
		return nil, false, err
	}
	content, err := s.Files.Read(ctx, path, "")
	killed, killErr := s.Kill(ctx)
	if err != nil {
		return nil, false, err
	}
	if killErr != nil {
		return nil, false, killErr
	}
	return string(content), killed, nil
}
