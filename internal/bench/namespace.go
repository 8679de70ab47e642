package bench

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/runnerhub/lifeboat/internal/devstack"
)

// BenchNamespace is the Temporal namespace of the benchmark's own workers,
// so their fixed task queue names do not meet the stack's workers.
const BenchNamespace = "lifeboat-bench"

// ensureNamespace makes ns ready for the benchmark's workers, as the stack
// does for a test's namespace, under the benchmark's description.
func ensureNamespace(ctx context.Context, c client.Client, ns string) error {
	return devstack.EnsureNamespace(ctx, c, ns, "lifeboat-bench: workers with a filesystem store, started and stopped by make bench-backup")
}
