package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/server/api"
	"github.com/skiffhq/skiff/server/api/errdefs"
	"github.com/skiffhq/skiff/server/client"
)

// configError is a container that cannot be made as specified (a missing
// ConfigMap key, a bad security setting): its status says
// CreateContainerConfigError with this message, and the pod is retried.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// sources fetches the ConfigMaps, Secrets and claims a pod refers to,
// once each per sync.
type sources struct {
	ctx        context.Context
	backend    client.Backend
	namespace  string
	configMaps map[string]*api.ConfigMap
	secrets    map[string]*api.Secret
	claims     map[string]*api.PersistentVolumeClaim
}

func newSources(ctx context.Context, b client.Backend, namespace string) *sources {
	return &sources{ctx: ctx, backend: b, namespace: namespace, configMaps: map[string]*api.ConfigMap{},
		secrets: map[string]*api.Secret{}, claims: map[string]*api.PersistentVolumeClaim{}}
}

// configMap returns the named ConfigMap, nil if it does not exist.
func (s *sources) configMap(name string) (*api.ConfigMap, error) {
	if cm, ok := s.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := client.For[*api.ConfigMap](s.backend, s.namespace).Get(s.ctx, name)
	if errdefs.IsNotFound(err) {
		cm, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %s/%s: %w", s.namespace, name, err)
	}
	s.configMaps[name] = cm
	return cm, nil
}

// secret returns the named Secret, nil if it does not exist.
func (s *sources) secret(name string) (*api.Secret, error) {
	if sec, ok := s.secrets[name]; ok {
		return sec, nil
	}
	sec, err := client.For[*api.Secret](s.backend, s.namespace).Get(s.ctx, name)
	if errdefs.IsNotFound(err) {
		sec, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s/%s: %w", s.namespace, name, err)
	}
	s.secrets[name] = sec
	return sec, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

// containerEnv resolves a container's environment as Kubernetes does:
// envFrom first, then env in order (later wins), with $(NAME) expanded
// from the variables defined before it. podIP is the pod's address.
func containerEnv(pod *api.Pod, c *api.Container, src *sources, podIP, hostIP string) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := src.configMap(ef.ConfigMapRef.Name)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				if isTrue(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, configErrorf("configmap %q not found (envFrom of container %q)", ef.ConfigMapRef.Name, c.Name)
			}
			for _, k := range sortedKeys(cm.Data) {
				set(ef.Prefix+k, cm.Data[k])
			}
		case ef.SecretRef != nil:
			sec, err := src.secret(ef.SecretRef.Name)
			if err != nil {
				return nil, err
			}
			if sec == nil {
				if isTrue(ef.SecretRef.Optional) {
					continue
				}
				return nil, configErrorf("secret %q not found (envFrom of container %q)", ef.SecretRef.Name, c.Name)
			}
			keys := make([]string, 0, len(sec.Data))
			for k := range sec.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				set(ef.Prefix+k, string(sec.Data[k]))
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		v, ok, err := envValueFrom(pod, c, e, src, podIP, hostIP)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// envValueFrom looks up one valueFrom; ok is false for a missing optional
// source.
func envValueFrom(pod *api.Pod, c *api.Container, e api.EnvVar, src *sources, podIP, hostIP string) (string, bool, error) {
	vf := e.ValueFrom
	switch {
	case vf.FieldRef != nil:
		v, err := podField(pod, vf.FieldRef.FieldPath, podIP, hostIP)
		if err != nil {
			return "", false, configErrorf("env %s of container %q: %v", e.Name, c.Name, err)
		}
		return v, true, nil
	case vf.ConfigMapKeyRef != nil:
		ref := vf.ConfigMapKeyRef
		cm, err := src.configMap(ref.Name)
		if err != nil {
			return "", false, err
		}
		if cm == nil {
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("configmap %q not found (env %s of container %q)", ref.Name, e.Name, c.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if b, bok := cm.BinaryData[ref.Key]; bok {
				return string(b), true, nil
			}
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("configmap %q has no key %q (env %s of container %q)", ref.Name, ref.Key, e.Name, c.Name)
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		ref := vf.SecretKeyRef
		sec, err := src.secret(ref.Name)
		if err != nil {
			return "", false, err
		}
		if sec == nil {
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("secret %q not found (env %s of container %q)", ref.Name, e.Name, c.Name)
		}
		v, ok := sec.Data[ref.Key]
		if !ok {
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("secret %q has no key %q (env %s of container %q)", ref.Name, ref.Key, e.Name, c.Name)
		}
		return string(v), true, nil
	}
	return "", false, nil
}

// podField reads a fieldRef path of the pod.
func podField(pod *api.Pod, path, podIP, hostIP string) (string, error) {
	if k, ok := bracketKey(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := bracketKey(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return pod.UID, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return "", nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", fmt.Errorf("field path %q is not supported", path)
}

// bracketKey reads "prefix['key']".
func bracketKey(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// expand replaces $(NAME) with a defined variable's value, leaves an
// undefined reference as written, and turns $$ into $.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
