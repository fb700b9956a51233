package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/auth"
	"github.com/skiffhq/skiff/server/registry"
)

// classes maps each error class to its HTTP answer. This table (and the
// client's reverse of it) is the only place that knows the mapping.
var classes = []struct {
	class  error
	code   int
	reason string
}{
	{errdefs.ErrBadRequest, http.StatusBadRequest, "BadRequest"},
	{errdefs.ErrUnauthorized, http.StatusUnauthorized, "Unauthorized"},
	{errdefs.ErrForbidden, http.StatusForbidden, "Forbidden"},
	{errdefs.ErrNotFound, http.StatusNotFound, "NotFound"},
	{errdefs.ErrAlreadyExists, http.StatusConflict, "AlreadyExists"},
	{errdefs.ErrConflict, http.StatusConflict, "Conflict"},
	{errdefs.ErrExpired, http.StatusGone, "Expired"},
	{errdefs.ErrTooLarge, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"},
	{errdefs.ErrInvalid, http.StatusUnprocessableEntity, "Invalid"},
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable, "ServiceUnavailable"},
	{errdefs.ErrTooManyRequests, http.StatusTooManyRequests, "TooManyRequests"},
}

// statusOf turns an error into the Status object the API answers with.
func statusOf(err error) *api.Status {
	st := &api.Status{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   "Failure",
		Message:  err.Error(),
		Reason:   "InternalError",
		Code:     http.StatusInternalServerError,
	}
	found := false
	for _, c := range classes {
		if errors.Is(err, c.class) {
			st.Code, st.Reason, found = c.code, c.reason, true
			break
		}
	}
	if !found {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			st.Code, st.Reason = http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"
		} else if code := echo.StatusCode(err); code != 0 {
			st.Code, st.Reason = code, strings.ReplaceAll(http.StatusText(code), " ", "")
		}
	}
	var inv *registry.InvalidError
	var fes api.FieldErrors
	switch {
	case errors.As(err, &inv):
		st.Details = &api.StatusDetails{Name: inv.Name, Kind: inv.Kind, Causes: causes(inv.Errs)}
	case errors.As(err, &fes):
		st.Details = &api.StatusDetails{Causes: causes(fes)}
	}
	return st
}

func causes(errs api.FieldErrors) []api.StatusCause {
	out := make([]api.StatusCause, len(errs))
	for i, e := range errs {
		out[i] = api.StatusCause{Reason: string(e.Type), Field: e.Field, Message: strings.TrimPrefix(e.Error(), e.Field+": ")}
	}
	return out
}

// writeError answers with err as a Status object (and, for a limiter's
// refusal, Retry-After).
func writeError(w http.ResponseWriter, err error) {
	st := statusOf(err)
	var tm *auth.TooManyError
	if errors.As(err, &tm) {
		w.Header().Set("Retry-After", strconv.Itoa(tm.Seconds()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st.Code)
	json.NewEncoder(w).Encode(st)
}
