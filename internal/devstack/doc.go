// Package devstack starts, checks and stops the local stack on loopback (the
// Temporal dev server, PostgreSQL, Redis with Sentinel, versitygw and a worker
// per region) at fixed ports, for `lifeboat-dev` and the integration tests.
package devstack
