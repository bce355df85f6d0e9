package provision

import (
	"context"
	"time"

	"github.com/tenantctl/tenantctl/internal/tenant"
)

// ConvergedCheck runs up's read-only converged check of spec alone, for the
// tests: "" when nothing differs, else the first difference.
func ConvergedCheck(ctx context.Context, env Env, spec tenant.Spec) (string, error) {
	d, err := env.desiredState(spec, time.Minute)
	if err != nil {
		return "", err
	}
	why, _, err := env.convergedCheck(ctx, d)
	return why, err
}
