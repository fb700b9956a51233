// Package errdefs holds skiff's error classes: the small set of kinds of
// failure that every layer agrees on. Code wraps a class with context,
//
//	fmt.Errorf("pod %q: %w", name, errdefs.ErrNotFound)
//
// and callers test with errors.Is or the Is* helpers. The mapping from a
// class to an HTTP status lives in exactly one place each way: the API
// server's error writer and the client's error reader. This package owns the
// classes only; it imports nothing but the standard library so that every
// part of skiff, the node agent included, can use it.
package errdefs

import "errors"

// The classes. Each names one reaction a caller can have.
var (
	// ErrNotFound: the object or resource does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: an object with that name exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the write lost an optimistic-concurrency race (stale
	// resourceVersion, changed UID); read again and retry.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is well-formed but breaks a rule; see FieldErrors.
	ErrInvalid = errors.New("invalid")
	// ErrBadRequest: the input could not be read at all (malformed JSON,
	// a bad selector or query parameter).
	ErrBadRequest = errors.New("bad request")
	// ErrUnauthorized: no identity, or a wrong one.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the identity may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrExpired: a watch asked for a revision older than the kept history;
	// the client must list again.
	ErrExpired = errors.New("expired")
	// ErrTooLarge: the request body is over the limit.
	ErrTooLarge = errors.New("request entity too large")
	// ErrUnavailable: try again later (shutting down, overloaded).
	ErrUnavailable = errors.New("unavailable")
	// ErrTooManyRequests: this client must slow down (too many failed
	// sign-ins from its address).
	ErrTooManyRequests = errors.New("too many requests")
)

// IsTooManyRequests reports whether err is of class ErrTooManyRequests.
func IsTooManyRequests(err error) bool { return errors.Is(err, ErrTooManyRequests) }

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is of class ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsConflict reports whether err is of class ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalid reports whether err is of class ErrInvalid.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsExpired reports whether err is of class ErrExpired.
func IsExpired(err error) bool { return errors.Is(err, ErrExpired) }

// IsUnauthorized reports whether err is of class ErrUnauthorized.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }

// IsForbidden reports whether err is of class ErrForbidden.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsUnavailable reports whether err is of class ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
