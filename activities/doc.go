// Package activities is the kit Lifeboat's activity domains share: clients
// and connections, secrets, heartbeats, logging, metrics, and the one place
// that decides which errors are retried. The domains are its sub-packages.
package activities
