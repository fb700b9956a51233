package api

import (
	"fmt"
	"strings"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// FieldErrorType says what is wrong with a field. The values are
// Kubernetes' cause reasons, so tools that read those read these.
type FieldErrorType string

// The field error types.
const (
	FieldRequired     FieldErrorType = "FieldValueRequired"
	FieldInvalid      FieldErrorType = "FieldValueInvalid"
	FieldNotSupported FieldErrorType = "FieldValueNotSupported"
	FieldDuplicate    FieldErrorType = "FieldValueDuplicate"
	FieldForbidden    FieldErrorType = "FieldValueForbidden"
	FieldTooLong      FieldErrorType = "FieldValueTooLong"
	// FieldUnknown: the input has a field the kind does not have. skiff
	// never drops such a field silently.
	FieldUnknown FieldErrorType = "FieldValueUnknown"
)

// FieldError is one problem with one field, named by its path
// ("spec.containers[0].image").
type FieldError struct {
	Type   FieldErrorType
	Field  string
	Detail string
}

func (e *FieldError) Error() string {
	switch e.Type {
	case FieldRequired:
		if e.Detail == "" {
			return e.Field + ": required"
		}
		return e.Field + ": required: " + e.Detail
	case FieldUnknown:
		return e.Field + ": unknown field"
	default:
		return e.Field + ": " + e.Detail
	}
}

// FieldErrors is every problem found in one object. As an error it is of
// class errdefs.ErrInvalid.
type FieldErrors []*FieldError

func (l FieldErrors) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes FieldErrors match errdefs.ErrInvalid.
func (l FieldErrors) Unwrap() error { return errdefs.ErrInvalid }

// Err returns l as an error, or nil when empty.
func (l FieldErrors) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Required records a missing field.
func Required(field, detail string) *FieldError {
	return &FieldError{Type: FieldRequired, Field: field, Detail: detail}
}

// Invalid records a bad value; detail says what a good one looks like.
func Invalid(field string, value any, detail string) *FieldError {
	return &FieldError{Type: FieldInvalid, Field: field, Detail: fmt.Sprintf("invalid value %v: %s", quoteValue(value), detail)}
}

// NotSupported records a value outside an enumeration.
func NotSupported(field string, value any, valid ...string) *FieldError {
	return &FieldError{Type: FieldNotSupported, Field: field,
		Detail: fmt.Sprintf("unsupported value %v: supported values: %s", quoteValue(value), strings.Join(quoteAll(valid), ", "))}
}

// Duplicate records a repeated value that must be unique.
func Duplicate(field string, value any) *FieldError {
	return &FieldError{Type: FieldDuplicate, Field: field, Detail: fmt.Sprintf("duplicate value %v", quoteValue(value))}
}

// Forbidden records a field that may not be set (or changed) here.
func Forbidden(field, detail string) *FieldError {
	return &FieldError{Type: FieldForbidden, Field: field, Detail: "forbidden: " + detail}
}

// TooLong records a value over its length limit.
func TooLong(field string, max int) *FieldError {
	return &FieldError{Type: FieldTooLong, Field: field, Detail: fmt.Sprintf("must have at most %d bytes", max)}
}

// Unknown records a field the kind does not have.
func Unknown(field string) *FieldError {
	return &FieldError{Type: FieldUnknown, Field: field}
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
