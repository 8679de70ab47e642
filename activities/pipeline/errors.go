package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// The errors below describe a stored stream that cannot be trusted or opened.
// None of them can succeed on a later attempt with the same object and keys,
// so the activities turn them into non-retryable application errors; an error
// reading the source or writing the destination is returned wrapped as it is,
// and stays retryable.

// ErrNoRecipients is returned by Seal when Options.Recipients is empty.
var ErrNoRecipients = errors.New("no age recipients: a backup must be encrypted for at least one recipient; set the cluster's backup recipients (age1… public keys)")

// ErrNoIdentities is returned by Open and Verify when no identity is given.
var ErrNoIdentities = errors.New("no age identities: restoring needs the identity (AGE-SECRET-KEY-1…) of one of the backup's recipients")

// ErrClosed is returned by a Sealer used after Close or Abort.
var ErrClosed = errors.New("sealer is closed")

// WrongKeyError reports that none of the identities given can open the stream.
type WrongKeyError struct {
	// Recipients are the public keys the stream was encrypted for, as the
	// caller passed them in want (the manifest); empty when not passed.
	Recipients []string
	// Tried are the public keys of the identities given, where they have one.
	Tried []string
	// Err is age's own error.
	Err error
}

func (e *WrongKeyError) Error() string {
	var b strings.Builder
	if len(e.Recipients) > 0 {
		fmt.Fprintf(&b, "this backup was encrypted for %s; ", strings.Join(e.Recipients, ", "))
	} else {
		b.WriteString("this backup was encrypted for recipients that were not given (see its manifest); ")
	}
	b.WriteString("none of the identities given")
	if len(e.Tried) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Tried, ", "))
	}
	b.WriteString(" matches: restore with the identity of one of those recipients")
	return b.String()
}

func (e *WrongKeyError) Unwrap() error { return e.Err }

// CorruptError reports stored bytes that fail authentication or do not match
// the expected stored checksum: the object was damaged after it was written.
type CorruptError struct {
	// Offset is the stored byte offset where the damage was found (the start
	// of the age chunk that failed, or 0 for the header); -1 when the damage
	// was only seen as a checksum mismatch at the end.
	Offset int64
	// Reason says what was found, in a few words.
	Reason string
	// WantSHA256 is the expected stored SHA-256 (hex), "" when not given.
	WantSHA256 string
	// GotSHA256 is the SHA-256 of the stored bytes actually read, "" when the
	// read stopped at the damage (Open stops; Verify reads to the end).
	GotSHA256 string
	// Err is the underlying error, if any.
	Err error
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString("stored backup is corrupt: ")
	b.WriteString(e.Reason)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " at stored byte %d", e.Offset)
	}
	b.WriteString(" (stored SHA-256 ")
	if e.WantSHA256 != "" {
		fmt.Fprintf(&b, "expected %s", e.WantSHA256)
	} else {
		b.WriteString("expected value not given")
	}
	if e.GotSHA256 != "" {
		fmt.Fprintf(&b, ", actual %s", e.GotSHA256)
	} else {
		b.WriteString(", actual not computed: reading stopped at the damage")
	}
	b.WriteString("): the object was damaged in storage or in transit; restore from another copy or an older backup")
	return b.String()
}

func (e *CorruptError) Unwrap() error { return e.Err }

// TruncatedError reports a stored stream that ends before its end.
type TruncatedError struct {
	// WantSize is the expected stored size, 0 when not given.
	WantSize int64
	// GotSize is the number of stored bytes there were.
	GotSize int64
	// WantSHA256 and GotSHA256 are the expected ("" when not given) and
	// actual stored SHA-256.
	WantSHA256, GotSHA256 string
}

func (e *TruncatedError) Error() string {
	var b strings.Builder
	if e.WantSize > 0 {
		fmt.Fprintf(&b, "stored backup ends early: %d bytes, expected %d", e.GotSize, e.WantSize)
	} else {
		fmt.Fprintf(&b, "stored backup ends early: the age stream stops after %d bytes without its final chunk", e.GotSize)
	}
	if e.GotSHA256 != "" {
		fmt.Fprintf(&b, " (stored SHA-256 %s", e.GotSHA256)
		if e.WantSHA256 != "" {
			fmt.Fprintf(&b, ", expected %s", e.WantSHA256)
		}
		b.WriteString(")")
	}
	b.WriteString(": the upload did not finish or the object was cut; restore from another backup")
	return b.String()
}

// PlainChecksumError reports a stream that decrypted and decompressed cleanly
// into something other than what the manifest describes.
type PlainChecksumError struct {
	// WantSize and WantSHA256 are the expected plain size and SHA-256 (hex).
	WantSize   int64
	WantSHA256 string
	// GotSize and GotSHA256 are those of the plain stream produced.
	GotSize   int64
	GotSHA256 string
}

func (e *PlainChecksumError) Error() string {
	var want []string
	if e.WantSHA256 != "" {
		want = append(want, e.WantSHA256)
	}
	if e.WantSize != 0 {
		want = append(want, fmt.Sprintf("%d bytes", e.WantSize))
	}
	return fmt.Sprintf("restored data does not match the backup's manifest: plain SHA-256 %s, %d bytes; expected %s: "+
		"the stored object decrypted and authenticated, so the manifest belongs to another backup or the backup was written wrong; "+
		"discard what was restored and restore from another backup",
		e.GotSHA256, e.GotSize, strings.Join(want, ", "))
}

// ReadBackError reports an object that, read back after its upload, is not
// the bytes the pipeline produced: the store kept something else.
type ReadBackError struct {
	// Key and Store name the object and where it is.
	Key, Store string
	// WantSize and WantSHA256 are what the upload wrote (hex SHA-256).
	WantSize   int64
	WantSHA256 string
	// GotSize and GotSHA256 are what was read back.
	GotSize   int64
	GotSHA256 string
}

func (e *ReadBackError) Error() string {
	return fmt.Sprintf("%s in %s reads back as %d bytes with sha256 %s; the upload wrote %d bytes with sha256 %s",
		e.Key, e.Store, e.GotSize, e.GotSHA256, e.WantSize, e.WantSHA256)
}

// IsCorrupt reports whether err says the stored bytes are damaged: they fail
// authentication, end early, or do not match their checksums. Reading the
// same object again reads the same bytes.
func IsCorrupt(err error) bool {
	var corrupt *CorruptError
	var truncated *TruncatedError
	var plainSum *PlainChecksumError
	var readBack *ReadBackError
	return errors.As(err, &corrupt) || errors.As(err, &truncated) || errors.As(err, &plainSum) || errors.As(err, &readBack)
}

// IsWrongKey reports whether err says none of the identities given opens
// the stream.
func IsWrongKey(err error) bool {
	var wrongKey *WrongKeyError
	return errors.As(err, &wrongKey)
}
