// Package backup holds the activities of backups, restores, WAL spooling,
// retention, backup replication, availability evidence and drills. It uses
// package ha only through ha.CheckPostgres, to choose a backup's source,
// and package fstree, which it shares with file sync, for the tree walk
// and the write-behind (WalkTree, CopyStable, NewWriteBehind).
package backup
