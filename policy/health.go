package policy

import "github.com/runnerhub/lifeboat/schemas"

// CircuitOf maps a component state to its circuit.
func CircuitOf(state string) string {
	switch state {
	case schemas.StateFailed, schemas.StateUnknown:
		return schemas.CircuitOpen
	case schemas.StateRecovering:
		return schemas.CircuitHalfOpen
	}
	return schemas.CircuitClosed
}
