package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/skiffhq/skiff/server/api"
)

// maxRedirects is how many same-host redirects an httpGet probe follows.
const maxRedirects = 10

// httpProber runs httpGet probes. Its transport keeps no connection
// between probes (so a node probing many pods holds no idle sockets),
// uses no proxy from the environment, asks for no compression and does
// not verify certificates: a probe checks that the server answers, not
// who it is, as kubelet.
type httpProber struct {
	client *http.Client
}

// newHTTPProber returns an httpProber. One serves every worker.
func newHTTPProber() *httpProber {
	tr := &http.Transport{
		Proxy:              nil, // never HTTP_PROXY: pod IPs are local
		DialContext:        (&net.Dialer{}).DialContext,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	return &httpProber{client: &http.Client{Transport: tr, CheckRedirect: checkRedirect}}
}

// checkRedirect follows redirects to the same host, up to maxRedirects,
// and stops at a redirect to another host: its 3xx answer is then the
// probe's, a success with a warning, as kubelet.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// probe sends one GET to host:port as a says, within ctx.
func (hp *httpProber) probe(ctx context.Context, a *api.HTTPGetAction, host string, port int, timeout time.Duration) (Result, string) {
	u := probeURL(a, host, port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Failure, fmt.Sprintf("httpGet %s: %v", u, err)
	}
	setHeaders(req, a.HTTPHeaders)
	res, err := hp.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Failure, timedOut("httpGet "+u, timeout)
		}
		return Failure, fmt.Sprintf("httpGet %s: %v", u, unwrapURLError(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxOutput))
	if err != nil {
		// A server that dies mid-answer is not passing, whatever its
		// status line said (kubelet fails such a probe too).
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Failure, timedOut("httpGet "+u+": reading the body", timeout)
		}
		return Failure, fmt.Sprintf("httpGet %s: status %s: reading the body: %v", u, res.Status, err)
	}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return Success, string(body)
	case res.StatusCode >= 300 && res.StatusCode < 400:
		return Success, fmt.Sprintf("httpGet %s: stopped at a redirect to another host (%s, Location %q): %s",
			u, res.Status, res.Header.Get("Location"), body)
	default:
		return Failure, fmt.Sprintf("httpGet %s: status %s: %s", u, res.Status, body)
	}
}

// probeURL is scheme://host:port/path. A path may carry a query.
func probeURL(a *api.HTTPGetAction, host string, port int) string {
	scheme := "http"
	if strings.EqualFold(string(a.Scheme), string(api.URISchemeHTTPS)) {
		scheme = "https"
	}
	path := a.Path
	if path == "" {
		path = "/"
	} else if path[0] != '/' {
		path = "/" + path
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
}

// setHeaders adds the probe's headers; a Host header sets the request's
// host. User-Agent and Accept default to skiff-probe/1 and */*.
func setHeaders(req *http.Request, hs []api.HTTPHeader) {
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", userAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	}
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the
// method and URL the message already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
