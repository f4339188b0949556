// Package errdefs is lodge's one vocabulary of error kinds, as containerd's
// errdefs is: domain packages and the daemon say what went wrong (not
// found, already exists, invalid, ...) and never how a transport reports
// it. The HTTP layer maps each kind to a status in one place
// (server.statusOf); a future transport maps the same kinds its own way.
//
// A kind is carried by wrapping: Invalidf("device %q: ...") makes an error
// whose message is complete as written and for which
// errors.Is(err, ErrInvalid) holds. Packages keep their own names for
// their sentinels (db.ErrNotFound, remotes.ErrUnreachable) by making them
// here with Sentinel, so that the name tells where an error came from and
// the kind tells what it means.
package errdefs

import (
	"errors"
	"fmt"
)

// The kinds. Their messages are what an error that is only a kind says.
var (
	// ErrNotFound: the named thing does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a thing with that name or identity already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the request is malformed, or asks for something the
	// current state does not allow (an instance that is not running).
	ErrInvalid = errors.New("invalid")
	// ErrConflict: the thing is busy with or claimed by something else
	// (still being created, in use).
	ErrConflict = errors.New("conflict")
	// ErrPrecondition: a condition the caller set does not hold (an ETag
	// that no longer matches).
	ErrPrecondition = errors.New("precondition failed")
	// ErrForbidden: the caller may not do this (an untrusted client, an
	// operation that cannot be cancelled).
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: a service lodged depends on (an image server) did
	// not answer.
	ErrUnavailable = errors.New("unavailable")
)

var kinds = []error{ErrNotFound, ErrExists, ErrInvalid, ErrConflict, ErrPrecondition, ErrForbidden, ErrUnavailable}

// kindError is an error of one kind whose message is err's.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }

// New makes an error of kind whose message is exactly msg; each call
// returns a distinct error, so a package can keep it as its own sentinel
// (errors.Is tells it from the kind's other sentinels).
func New(kind error, msg string) error { return &kindError{kind: kind, err: errors.New(msg)} }

// Wrap gives err a kind, keeping its message and what it wraps; nil stays nil.
func Wrap(kind error, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

func kindf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, a...)}
}

// NotFoundf formats an ErrNotFound error (%w wraps as fmt.Errorf does).
func NotFoundf(format string, a ...any) error { return kindf(ErrNotFound, format, a...) }

// Existsf formats an ErrExists error.
func Existsf(format string, a ...any) error { return kindf(ErrExists, format, a...) }

// Invalidf formats an ErrInvalid error.
func Invalidf(format string, a ...any) error { return kindf(ErrInvalid, format, a...) }

// Conflictf formats an ErrConflict error.
func Conflictf(format string, a ...any) error { return kindf(ErrConflict, format, a...) }

// Preconditionf formats an ErrPrecondition error.
func Preconditionf(format string, a ...any) error { return kindf(ErrPrecondition, format, a...) }

// Forbiddenf formats an ErrForbidden error.
func Forbiddenf(format string, a ...any) error { return kindf(ErrForbidden, format, a...) }

// Unavailablef formats an ErrUnavailable error.
func Unavailablef(format string, a ...any) error { return kindf(ErrUnavailable, format, a...) }

// KindOf returns the outermost kind in err's chain, or nil. Outermost
// wins: Invalidf("device %q: %w", errNotFound) is invalid as a whole,
// whatever it wraps.
func KindOf(err error) error {
	for err != nil {
		if k, ok := err.(*kindError); ok {
			err = k.kind // a kind, or a sentinel of one (New)
			continue
		}
		for _, k := range kinds {
			if err == k {
				return k
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k := KindOf(e); k != nil {
					return k
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}
