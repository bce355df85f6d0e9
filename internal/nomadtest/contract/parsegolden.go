package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// EnvUpdate, set to 1 together with EnvAddr, rewrites the golden files of
// the ParseGolden case from the real agent's answers. It is refused against
// the double: a golden file states what real Nomad does.
const EnvUpdate = "TENANTCTL_TEST_NOMAD_UPDATE"

// parseDir holds the jobspecs of the ParseGolden case: NAME.nomad.hcl, an
// optional var file NAME.vars.hcl, and NAME.json, the job a real Nomad
// agent's /v1/jobs/parse returned for them (canonicalized, as decoded by
// github.com/hashicorp/nomad/api and encoded again).
const parseDir = "testdata/parse"

// parseDirPath is parseDir in this package's source tree, so the case finds
// its files whichever package's test runs the suite (the real-cluster suite
// in internal/e2e does).
func parseDirPath() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return parseDir
	}
	return filepath.Join(filepath.Dir(file), parseDir)
}

// testParseGolden parses every jobspec of parseDir with its var file and
// compares the whole job with the golden file.
func testParseGolden(t *testing.T, tg Target) {
	update := os.Getenv(EnvUpdate) == "1"
	if update && tg.Double != nil {
		t.Fatalf("%s=1 needs a real agent (%s): golden files record real Nomad", EnvUpdate, EnvAddr)
	}
	dir := parseDirPath()
	srcs, err := filepath.Glob(filepath.Join(dir, "*.nomad.hcl"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no jobspecs in %s (%v)", parseDir, err)
	}
	for _, path := range srcs {
		name := strings.TrimSuffix(filepath.Base(path), ".nomad.hcl")
		t.Run(name, func(t *testing.T) {
			src := mustRead(t, path)
			vars := ""
			if b, err := os.ReadFile(filepath.Join(dir, name+".vars.hcl")); err == nil {
				vars = string(b)
			} else if !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			job, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: src, Variables: vars, Canonicalize: true})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := json.MarshalIndent(job, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join(dir, name+".json")
			if update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := []byte(mustRead(t, golden))
			if !bytes.Equal(got, want) {
				t.Errorf("parsed job differs from %s (recorded from real Nomad):\n%s", golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lineDiff lists the lines of want missing from got (-) and the lines of
// got missing from want (+), in order: enough to see which fields differ.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	// Longest common subsequence over lines; the files are small.
	n, m := len(wl), len(gl)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if wl[i] == gl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && wl[i] == gl[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + gl[j] + "\n")
			j++
		default:
			b.WriteString("- " + wl[i] + "\n")
			i++
		}
	}
	return b.String()
}
