package appimages

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// The distribution spec's error codes this registry answers with (and
// UNAVAILABLE, docker's registry's code for 503).
const (
	codeBlobUnknown     = "BLOB_UNKNOWN"
	codeDigestInvalid   = "DIGEST_INVALID"
	codeManifestUnknown = "MANIFEST_UNKNOWN"
	codeNameInvalid     = "NAME_INVALID"
	codeNameUnknown     = "NAME_UNKNOWN"
	codeTagInvalid      = "TAG_INVALID"
	codeUnauthorized    = "UNAUTHORIZED"
	codeDenied          = "DENIED"
	codeUnsupported     = "UNSUPPORTED"
	codeTooMany         = "TOOMANYREQUESTS"
	codeUnavailable     = "UNAVAILABLE"
	codeUnknown         = "UNKNOWN"
)

// regError is one answer that is not a success: its status, its
// distribution error code and a message for a person.
type regError struct {
	status  int
	code    string
	message string
}

func (e *regError) Error() string { return e.code + ": " + e.message }

func newError(status int, code, message string) *regError {
	return &regError{status: status, code: code, message: message}
}

// authError is the answer to an error Authorize returned.
func authError(err error) *regError {
	switch {
	case errdefs.IsForbidden(err):
		return newError(http.StatusForbidden, codeDenied, err.Error())
	case errdefs.IsUnauthorized(err):
		return newError(http.StatusUnauthorized, codeUnauthorized, err.Error())
	case errdefs.IsNotFound(err):
		return newError(http.StatusNotFound, codeNameUnknown, err.Error())
	case errdefs.IsTooManyRequests(err):
		return newError(http.StatusTooManyRequests, codeTooMany, err.Error())
	case errdefs.IsUnavailable(err):
		return newError(http.StatusServiceUnavailable, codeUnavailable, err.Error())
	}
	return newError(http.StatusInternalServerError, codeUnknown, "authorize: "+err.Error())
}

// writeError answers err: a *regError as it says, anything else as 500.
// A HEAD answer has the status and no body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var re *regError
	if !errors.As(err, &re) {
		re = newError(http.StatusInternalServerError, codeUnknown, err.Error())
	}
	type entry struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []entry `json:"errors"`
	}{[]entry{{re.code, re.message}}})
	h := w.Header()
	for _, k := range []string{"Docker-Content-Digest", "ETag", "Content-Range", "Accept-Ranges", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(re.status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}
