// Package filesync holds the activities of file-tree replication across
// regions: scan, plan, transfer, apply and verify, and the file manifest's
// binary codec.
package filesync
