// Package schemas is the one contract shared by the CLI, the Web UI's JSON
// inputs and the workflows: the topology of a cluster, every workflow's input
// and result, their embedded JSON Schemas, and validation. It does no I/O.
package schemas
