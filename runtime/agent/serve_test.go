package agent

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skiffhq/skiff/server/api"
)

// More routes of the endpoint answer the API server only, as its own do.
func TestRoutesAnswerTheAPIServerOnly(t *testing.T) {
	a := &Agent{cfg: Config{Routes: map[string]http.Handler{
		"POST /build": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("building")) }),
	}}}
	h := a.Handler()
	as := func(cn string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/build", nil)
		if cn != "" {
			cert := &x509.Certificate{Subject: pkix.Name{CommonName: cn}}
			r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
		}
		return r
	}
	for _, tc := range []struct {
		cn   string
		code int
	}{{api.UserAPIServer, http.StatusOK}, {"system:node:n2", http.StatusForbidden}, {"", http.StatusForbidden}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, as(tc.cn))
		if w.Code != tc.code {
			t.Errorf("POST /build as %q: %d %s, want %d", tc.cn, w.Code, w.Body, tc.code)
		}
	}
}
