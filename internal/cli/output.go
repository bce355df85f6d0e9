package cli

import (
	"encoding/json"
	"io"
)

// writeJSON is the one JSON writer of the CLI: v as one line of JSON. Every
// --json output is made of such lines: a read command's result, a
// provisioning command's events followed by its result, so line-based tools
// and `jq` read each the same way.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// jsonResult prints a command's result and error as one JSON object and
// returns err, so the exit code still tells what happened.
func (a *app) jsonResult(result any, err error) error {
	if jerr := writeJSON(a.Stdout, map[string]any{"result": result, "error": errString(err)}); jerr != nil {
		return jerr
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
