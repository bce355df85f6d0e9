package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
)

const bashCompletion = `# bash completion for tenantctl; load with: source <(tenantctl completion bash)
_tenantctl_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _tenantctl_complete tenantctl
`

const zshCompletion = `#compdef tenantctl
# zsh completion for tenantctl; load with: source <(tenantctl completion zsh)
_tenantctl() {
  local -a opts
  opts=("${(@f)$(${words[@]:0:$((CURRENT-1))} --generate-bash-completion 2>/dev/null)}")
  _describe 'values' opts
}
compdef _tenantctl tenantctl
`

func (a *app) completionCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (bash, zsh or fish)",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *ucli.Context) error {
			switch c.Args().First() {
			case "bash":
				_, err := fmt.Fprint(a.Stdout, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(a.Stdout, zshCompletion)
				return err
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return fmt.Errorf("fish completion: %w", err)
				}
				_, err = fmt.Fprint(a.Stdout, s)
				return err
			default:
				return exit.UsageError("tenantctl completion bash > /etc/bash_completion.d/tenantctl",
					"completion needs a shell: bash, zsh or fish")
			}
		},
	}
}
