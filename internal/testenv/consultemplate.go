package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// NomadTemplateFunctionDenylist returns the template functions a Nomad client
// refuses unless its operator changes client.template.function_denylist: the
// default of Nomad 2.0.5's client configuration, and what a real agent showed
// (a template calling executeTemplate failed its allocation). Templates that
// Nomad's template runner executes are rendered in tests with this list, so a
// function Nomad refuses fails the test too.
func NomadTemplateFunctionDenylist() []string {
	return []string{"executeTemplate", "plugin", "writeToFile"}
}

// ConsulTemplateConfig writes a consul-template configuration file with one
// template block (source, destination, and command when not empty) that
// refuses the functions Nomad's template runner refuses, and returns its path
// for consul-template's -config flag.
func ConsulTemplateConfig(tb testing.TB, source, destination, command string) string {
	tb.Helper()
	quoted := make([]string, 0, 3)
	for _, f := range NomadTemplateFunctionDenylist() {
		quoted = append(quoted, hclString(f))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "template {\n  source = %s\n  destination = %s\n", hclString(source), hclString(destination))
	if command != "" {
		fmt.Fprintf(&b, "  command = %s\n", hclString(command))
	}
	fmt.Fprintf(&b, "  function_denylist = [%s]\n}\n", strings.Join(quoted, ", "))
	path := filepath.Join(tb.TempDir(), "consul-template.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		tb.Fatalf("testenv: write consul-template config: %v", err)
	}
	return path
}

// hclString quotes s for an HCL configuration file; the tests' paths and
// commands hold no characters HCL would read differently from Go's quoting
// except "${", which HCL would interpolate and is refused here.
func hclString(s string) string {
	if strings.Contains(s, "${") {
		panic("testenv: consul-template config value holds ${: " + s)
	}
	return fmt.Sprintf("%q", s)
}
