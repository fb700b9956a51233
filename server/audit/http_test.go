package audit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServeHTTP(t *testing.T) {
	l := queryLog(t)
	for _, tc := range []struct {
		method, target string
		code           int
		want           string // names, or a piece of the error message
	}{
		{"GET", "/audit/v1/events?user=bob&limit=2", 200, "q-27 q-29"},
		{"GET", "/audit/v1/events?resource=secrets", 200, ""},
		{"GET", "/audit/v1/events?denied=true&namespace=kube-system", 200, "q-0 q-15"},
		{"GET", "/audit/v1/events?who=bob", 400, `unknown parameter "who"`},
		{"GET", "/audit/v1/events?limit=0", 400, `limit "0"`},
		{"POST", "/audit/v1/events", 405, "read with GET"},
	} {
		rec := httptest.NewRecorder()
		l.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.target, rec.Code, tc.code, rec.Body)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", tc.method, tc.target, ct)
		}
		if tc.code != 200 {
			var st struct {
				Kind, Message, Reason string
				Code                  int
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || st.Code != tc.code || !strings.Contains(st.Message, tc.want) {
				t.Errorf("%s %s: answer %s, want a Status saying %q", tc.method, tc.target, rec.Body, tc.want)
			}
			continue
		}
		if !strings.HasPrefix(rec.Body.String(), `{"items":[`) {
			t.Errorf("%s %s: body %s, want {\"items\":[...]}", tc.method, tc.target, rec.Body)
		}
		var body struct{ Items []Entry }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if names(body.Items) != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.target, names(body.Items), tc.want)
		}
	}
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/audit/v1/events", nil))
	if rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("405 without Allow: %v", rec.Header())
	}
}
