// Package policy holds Lifeboat's rules as pure functions: who is promoted,
// which availability level is met, what retention keeps, what a file sync
// sends, and the health state machine, from a node's checks to the circuit,
// a failover or a rejoin. No I/O: workflows call them directly.
package policy
