// Package fstree walks file trees and writes files behind a stream: the
// pieces the restore and file sync share.
package fstree
