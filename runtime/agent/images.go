package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/distribution/reference"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
)

// normalizeRef spells an image reference in full, as the runtime stores
// it: "busybox" is docker.io/library/busybox:latest.
func normalizeRef(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}

// pullPolicy is the container's, or Kubernetes' default: Always for
// :latest or no tag, IfNotPresent otherwise.
func pullPolicy(c *api.Container) api.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	if strings.Contains(c.Image, "@") {
		return api.PullIfNotPresent
	}
	last := c.Image[strings.LastIndex(c.Image, "/")+1:]
	if !strings.Contains(last, ":") || strings.HasSuffix(last, ":latest") {
		return api.PullAlways
	}
	return api.PullIfNotPresent
}

// ensureImage makes the container's image present, pulling it as the
// pull policy says, with back-off after a failed pull. An image that is
// present is used even under Always when the pull fails, so an
// air-gapped node (images imported, no registry) runs its pods.
func (a *Agent) ensureImage(ctx context.Context, pod *api.Pod, c *api.Container) (container.Image, error) {
	ref, err := normalizeRef(c.Image)
	if err != nil {
		msg := fmt.Sprintf("image %q is not a valid reference: %v", c.Image, err)
		a.setWaiting(pod.UID, c.Name, "InvalidImageName", msg)
		a.events.warn(pod, "InspectFailed", msg)
		return container.Image{}, fmt.Errorf("%s", msg)
	}
	img, err := a.cfg.Runtime.GetImage(ctx, ref)
	present := err == nil
	if err != nil && !errdefs.IsNotFound(err) {
		return container.Image{}, err
	}
	policy := pullPolicy(c)
	switch {
	case present && policy != api.PullAlways:
		return img, nil
	case !present && policy == api.PullNever:
		msg := fmt.Sprintf("container image %q is not present with pull policy of Never", c.Image)
		a.setWaiting(pod.UID, c.Name, "ErrImageNeverPull", msg)
		a.events.warn(pod, "ErrImageNeverPull", msg)
		return container.Image{}, fmt.Errorf("%s", msg)
	}
	key := pod.UID + "/" + c.Name
	if wait := a.pulls.wait(key, 0); wait > 0 {
		w, _ := a.waitingFor(pod.UID, c.Name)
		if present && w.reason != "ErrImagePull" && w.reason != "ImagePullBackOff" {
			return img, nil
		}
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		switch w.reason {
		case "ErrImagePull":
			msg += ": ErrImagePull: " + w.message
		case "ImagePullBackOff":
			msg = w.message
		}
		a.setWaiting(pod.UID, c.Name, "ImagePullBackOff", msg)
		a.queue.AddAfter(pod.UID, wait)
		return container.Image{}, fmt.Errorf("image %q: pull in back-off", c.Image)
	}
	auth, err := a.pullAuth(ctx, pod, ref)
	if err != nil {
		return container.Image{}, err
	}
	if !present {
		a.events.normal(pod, "Pulling", fmt.Sprintf("Pulling image %q", c.Image))
	}
	pulled, err := a.cfg.Runtime.Pull(ctx, ref, auth, nil)
	if err != nil {
		a.pulls.restarted(key)
		// An unreachable registry does not stop a node from running what
		// it has (boards are often offline); a registry that refuses the
		// pod's credentials does: Always is also an access check.
		if present && !errdefs.IsUnauthorized(err) && !errdefs.IsForbidden(err) {
			a.log.Info("pull failed; using the image present", "image", ref, "err", err)
			return img, nil
		}
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		a.setWaiting(pod.UID, c.Name, "ErrImagePull", msg)
		a.events.warn(pod, "Failed", msg)
		return container.Image{}, fmt.Errorf("%s", msg)
	}
	a.pulls.forget(pod.UID)
	if !present {
		a.events.normal(pod, "Pulled", fmt.Sprintf("Successfully pulled image %q", c.Image))
	}
	return pulled, nil
}

// pullAuth finds a credential for ref's registry in the pod's
// imagePullSecrets (kubernetes.io/dockerconfigjson Secrets).
func (a *Agent) pullAuth(ctx context.Context, pod *api.Pod, ref string) (*container.PullAuth, error) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, err
	}
	host := reference.Domain(named)
	src := newSources(ctx, a.cfg.Client, pod.Namespace)
	for _, ps := range pod.Spec.ImagePullSecrets {
		sec, err := src.secret(ps.Name)
		if err != nil {
			return nil, err
		}
		if sec == nil {
			a.events.warn(pod, "FailedToRetrieveImagePullSecret", fmt.Sprintf("Unable to retrieve image pull secret %q; pulling without it", ps.Name))
			continue
		}
		if auth, ok := dockerConfigAuth(sec.Data[".dockerconfigjson"], host); ok {
			return auth, nil
		}
	}
	return nil, nil
}

// dockerConfigAuth reads one registry's credential from a
// .dockerconfigjson document.
func dockerConfigAuth(doc []byte, host string) (*container.PullAuth, bool) {
	var cfg struct {
		Auths map[string]struct {
			Username      string `json:"username"`
			Password      string `json:"password"`
			Auth          string `json:"auth"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if len(doc) == 0 || json.Unmarshal(doc, &cfg) != nil {
		return nil, false
	}
	for k, v := range cfg.Auths {
		k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
		k, _, _ = strings.Cut(k, "/")
		if k != host && !(host == "docker.io" && k == "index.docker.io") {
			continue
		}
		auth := &container.PullAuth{Username: v.Username, Password: v.Password, IdentityToken: v.IdentityToken}
		if v.Auth != "" {
			if b, err := base64.StdEncoding.DecodeString(v.Auth); err == nil {
				auth.Username, auth.Password, _ = strings.Cut(string(b), ":")
			}
		}
		return auth, true
	}
	return nil, false
}
