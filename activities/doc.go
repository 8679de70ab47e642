// Package activities holds every side effect of Lifeboat's workflows, as
// methods on structs that hold their clients. Each activity takes one input
// and returns one result type from package schemas, and is idempotent.
package activities
