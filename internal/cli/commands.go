package cli

import ucli "github.com/urfave/cli/v2"

// extraCommands lists the operational commands, each defined in its own file.
func (a *app) extraCommands() []*ucli.Command {
	return []*ucli.Command{
		a.clusterCommand(),
		a.dbCommand(),
		a.renderCommand(),
		a.upCommand(),
		a.planCommand(),
		a.statusCommand(),
		a.listCommand(),
		a.migrateCommand(),
		a.rotateCommand(),
		a.downCommand(),
		a.backupCommand(),
		a.backupsCommand(),
		a.restoreCommand(),
		a.applyCommand(),
	}
}
