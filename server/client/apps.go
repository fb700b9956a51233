package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/skiffhq/skiff/server/api"
)

// AppConfigRequest is the body of POST .../apps/{name}/config: config
// vars to set and to unset, in one new release.
type AppConfigRequest struct {
	Set   map[string]string `json:"set,omitempty"`
	Unset []string          `json:"unset,omitempty"`
}

// AppRollbackRequest is the body of POST .../apps/{name}/rollback.
type AppRollbackRequest struct {
	// Release is the release to go back to, by name or "vN"; "" is the
	// one before the app's current release.
	Release string `json:"release,omitempty"`
}

// AppReleaseResponse is the answer of the config and rollback routes.
type AppReleaseResponse struct {
	// Release is the release made; nil when none was needed (nothing
	// changed, or the app has not been deployed yet).
	Release *api.Release `json:"release,omitempty"`
}

// SetAppConfig sets and unsets an app's config vars; the server makes a
// release with them (no rebuild) and returns it.
func (h *HTTP) SetAppConfig(ctx context.Context, namespace, app string, req AppConfigRequest) (*api.Release, error) {
	return h.appRelease(ctx, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/apps/"+url.PathEscape(app)+"/config", req)
}

// RollbackApp makes a release that runs an earlier release's image and
// config again.
func (h *HTTP) RollbackApp(ctx context.Context, namespace, app string, req AppRollbackRequest) (*api.Release, error) {
	return h.appRelease(ctx, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/apps/"+url.PathEscape(app)+"/rollback", req)
}

func (h *HTTP) appRelease(ctx context.Context, path string, body any) (*api.Release, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := h.do(ctx, http.MethodPost, path, nil, data, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out AppReleaseResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&out); err != nil {
		return nil, err
	}
	return out.Release, nil
}

// BuildLog opens a build's log; with follow it streams until the build
// ends. The caller closes it.
func (h *HTTP) BuildLog(ctx context.Context, namespace, build string, follow bool) (io.ReadCloser, error) {
	q := url.Values{}
	if follow {
		q.Set("follow", "true")
	}
	resp, err := h.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/builds/"+url.PathEscape(build)+"/log", q, nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
