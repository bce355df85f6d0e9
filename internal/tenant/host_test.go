package tenant

import (
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	for _, s := range []string{"acme.example.com", "acme-corp.tenants.example.com", "a.io", "x1.y2.z3.dev", "localhost.localdomain"} {
		if _, err := ParseHost(s); err != nil {
			t.Errorf("ParseHost(%q): got %v; want ok", s, err)
		}
	}
	invalid := append([]string{
		"acme", "acme.example.com.", ".acme.com", "acme..com", "ACME.example.com", "acme.example.123",
		"-acme.com", "acme-.com", "acme.com:8080", "*.example.com", "acme.example.com/x", "acme example.com",
		strings.Repeat("a", 64) + ".com", strings.Repeat("abcdefghi.", 26) + "com", "xn--аcme.com",
	}, hostile...)
	for _, s := range invalid {
		if s == "acme.corp" { // a valid host, though not a valid id
			continue
		}
		if _, err := ParseHost(s); err == nil {
			t.Errorf("ParseHost(%q): got ok; want error", s)
		}
	}
}

func TestDefaultHost(t *testing.T) {
	h, err := DefaultHost("acme", "tenants.example.com")
	if err != nil || h != "acme.tenants.example.com" {
		t.Fatalf("DefaultHost = %q, %v; want acme.tenants.example.com", h, err)
	}
	if _, err := DefaultHost("acme", "Bad Domain"); err == nil {
		t.Fatalf("DefaultHost with a bad base domain: got ok; want error")
	}
}

func TestNewSpec(t *testing.T) {
	s, err := NewSpec(SpecInput{ID: "acme", BaseDomain: "example.com", Plan: "small", Profile: "exec"})
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{ID: "acme", Name: "acme", Host: "acme.example.com", Plan: PlanSmall, Profile: ProfileExec}
	if s != want {
		t.Fatalf("got %+v; want %+v", s, want)
	}
	bad := []SpecInput{
		{ID: "ACME", BaseDomain: "example.com", Plan: "small", Profile: "exec"},
		{ID: "acme", Name: "x\ny", BaseDomain: "example.com", Plan: "small", Profile: "exec"},
		{ID: "acme", Host: "bad_host.com", BaseDomain: "example.com", Plan: "small", Profile: "exec"},
		{ID: "acme", BaseDomain: "example.com", Plan: "huge", Profile: "exec"},
		{ID: "acme", BaseDomain: "example.com", Plan: "small", Profile: "podman"},
	}
	for _, in := range bad {
		if _, err := NewSpec(in); err == nil {
			t.Errorf("NewSpec(%+v): got ok; want error", in)
		}
	}
}
