package audit

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// ServeHTTP answers GET with {"items":[...]}: the entries Query finds for
// the filter in the query parameters (see ParseFilter). It does not
// check who asks: the API server authorizes before it calls it.
func (l *Log) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the audit log is read with GET")
		return
	}
	f, err := ParseFilter(r.URL.Query())
	if err != nil {
		code, reason := http.StatusInternalServerError, "InternalError"
		if errors.Is(err, errdefs.ErrBadRequest) {
			code, reason = http.StatusBadRequest, "BadRequest"
		}
		writeStatus(w, code, reason, err.Error())
		return
	}
	items, err := l.Query(r.Context(), f)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		writeStatus(w, http.StatusInternalServerError, "InternalError", "read the audit log: "+err.Error())
		return
	}
	if items == nil {
		items = []Entry{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(struct {
		Items []Entry `json:"items"`
	}{items})
}

// writeStatus answers with the API's Status object. The API server's
// error writer is the one full mapping of error classes to statuses;
// this package cannot import it (it imports this one), so it writes the
// two answers it can give itself in the same shape.
func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"message": msg, "reason": reason, "code": code,
	})
}

var _ http.Handler = (*Log)(nil)
