package acme

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// autocert gives up on a domain with "no viable challenge type found"
// once every challenge type failed, dropping the CA's reasons; reasons
// keeps them, read from the authorizations the CA sends back, for the
// failure's log.
type reasons struct {
	mu     sync.Mutex
	byHost map[string][]string
}

// note adds a reason for host, once.
func (r *reasons) note(host, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHost == nil {
		r.byHost = make(map[string][]string)
	}
	for _, have := range r.byHost[host] {
		if have == reason {
			return
		}
	}
	r.byHost[host] = append(r.byHost[host], reason)
}

// take returns and forgets host's reasons, "; "-joined.
func (r *reasons) take(host string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := r.byHost[host]
	delete(r.byHost, host)
	return strings.Join(all, "; ")
}

// client is c with its transport reading reasons off the responses.
func (r *reasons) client(c *http.Client) *http.Client {
	out := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = &reasonTransport{base: base, r: r}
	return &out
}

// reasonTransport notes the errors of failed challenges in the ACME
// authorizations it carries.
type reasonTransport struct {
	base http.RoundTripper
	r    *reasons
}

// maxPeek bounds how much of a response is looked at: an authorization
// is a few hundred bytes.
const maxPeek = 64 << 10

func (t *reasonTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	if err != nil || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return res, err
	}
	head, rerr := io.ReadAll(io.LimitReader(res.Body, maxPeek))
	// The body reads on as it was: what was peeked, then the rest (and
	// any read error).
	res.Body = readCloser{io.MultiReader(bytes.NewReader(head), res.Body), res.Body}
	if rerr != nil || len(head) == maxPeek {
		return res, nil
	}
	var z struct {
		Identifier struct{ Value string }
		Challenges []struct {
			Type, Status string
			Error        *struct{ Type, Detail string }
		}
	}
	if json.Unmarshal(head, &z) != nil || z.Identifier.Value == "" {
		return res, nil
	}
	for _, c := range z.Challenges {
		if c.Status == "invalid" && c.Error != nil {
			t.r.note(strings.ToLower(z.Identifier.Value), fmt.Sprintf("%s: %s", c.Type, c.Error.Detail))
		}
	}
	return res, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
