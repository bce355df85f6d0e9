package cli

import (
	"fmt"
	"runtime"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/compat"
	"github.com/tenantctl/tenantctl/internal/version"
)

type versionInfo struct {
	Version   string               `json:"version"`
	GoVersion string               `json:"go_version"`
	Platform  string               `json:"platform"`
	Supports  []compat.Requirement `json:"supports"`
}

func (a *app) versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print tenantctl's version and the Nomad, Consul and Vault versions it supports",
		Flags: []ucli.Flag{&ucli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: func(c *ucli.Context) error {
			info := versionInfo{
				Version:   version.Version,
				GoVersion: runtime.Version(),
				Platform:  runtime.GOOS + "/" + runtime.GOARCH,
				Supports:  compat.Requirements,
			}
			if wantJSON(c) {
				return writeJSON(a.Stdout, info)
			}
			fmt.Fprintf(a.Stdout, "tenantctl %s (%s, %s)\n", info.Version, info.GoVersion, info.Platform)
			fmt.Fprintln(a.Stdout, "supports:")
			for _, r := range info.Supports {
				fmt.Fprintf(a.Stdout, "  %-7s >= %-7s %s\n", r.System, r.Minimum, r.Why)
			}
			return nil
		},
	}
}
