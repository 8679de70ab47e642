// Package ha holds the high-availability activities: probes and health
// tracking, fencing, promotion, rejoin, routing, alerts and pgbouncer. Other
// domains use it only through CheckPostgres.
package ha
