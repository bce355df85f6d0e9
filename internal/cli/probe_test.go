package cli

import ucli "github.com/urfave/cli/v2"

// probeCommand records the global options a command sees.
func probeCommand(dst *globalOptions, a *app) *ucli.Command {
	return &ucli.Command{Name: "probe", Action: func(*ucli.Context) error { *dst = a.opts; return nil }}
}
