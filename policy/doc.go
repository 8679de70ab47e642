// Package policy holds Lifeboat's rules as pure functions: who is promoted,
// which availability level is met, what retention keeps, what a file sync
// sends, how a component's state maps to its circuit. No I/O: workflows call
// them directly.
package policy
