package e2e

import (
	"os"
	"testing"

	"github.com/tenantctl/tenantctl/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }
