// Package filesync holds the activities of file-tree replication across
// regions: scan, plan, transfer, apply and verify, and the file manifest's
// binary codec. It walks and writes trees with package fstree, which it
// shares with the restore (WalkTree, CopyStable, NewWriteBehind).
package filesync
