package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/exit"
)

func TestRunPrintsErrorAndRemedy(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code exit.Code
		want []string
	}{
		{nil, nil, exit.Usage, []string{"Error: no command given", "Try: tenant-app serve, or tenant-app work"}},
		{[]string{"serve", "--addr", "127.0.0.1:0", "postgres://u:pw@h/db"}, nil, exit.Usage,
			[]string{"Error: unexpected arguments", "Try: connection settings go in TENANT_APP_ENV_FILE"}},
		{[]string{"work", "--addr", "127.0.0.1:0"}, map[string]string{"TENANT_APP_ENV_FILE": "/nonexistent/tenant.env"}, exit.Usage,
			[]string{"Error: settings: read TENANT_APP_ENV_FILE", "Try: check the template that renders TENANT_APP_ENV_FILE"}},
		{[]string{"serve", "--help"}, nil, exit.OK, nil},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr, nil)
		if got := exit.CodeOf(err); got != tc.code {
			t.Errorf("%q: got exit code %d; want %d", tc.args, got, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr.String(), w) {
				t.Errorf("%q: got stderr %q; want it to contain %q", tc.args, stderr.String(), w)
			}
		}
	}
}
