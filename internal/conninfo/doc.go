// Package conninfo reads and writes libpq connection strings, as
// postgres:// URLs or keyword=value pairs, without connecting: the topology
// checks its DSNs with it, and HA builds primary_conninfo and pgbouncer
// entries with it.
package conninfo
