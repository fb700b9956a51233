package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/skiffhq/skiff/runtime/container"
	"github.com/skiffhq/skiff/server/api"
)

// volumes makes every volume of the pod ready on the node and returns
// the host path of each by name. It is idempotent: a sync after the
// first rewrites a configMap or secret file only when its content moved.
func (a *Agent) volumes(pod *api.Pod, src *sources) (map[string]string, error) {
	p := a.podPaths(pod.UID)
	out := make(map[string]string, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		var dir string
		var err error
		switch {
		case v.EmptyDir != nil:
			dir = p.emptyDir(v.Name)
			if v.EmptyDir.Medium == api.StorageMediumMemory {
				dir = filepath.Join(p.state, "volumes", "memory", v.Name)
			}
			err = os.MkdirAll(dir, 0o777)
			if err == nil {
				err = os.Chmod(dir, 0o777) // like kubelet: any container user may write
			}
		case v.HostPath != nil:
			dir, err = hostPath(v.HostPath)
		case v.PersistentVolumeClaim != nil:
			dir, err = a.claimVolume(pod, v.PersistentVolumeClaim.ClaimName, src)
		case v.ConfigMap != nil:
			dir = p.projected(v.Name)
			err = a.configMapVolume(dir, v, src)
		case v.Secret != nil:
			dir = p.projected(v.Name)
			err = a.secretVolume(dir, v, src)
		default:
			err = configErrorf("volume %q has no source skiff supports", v.Name)
		}
		if err != nil {
			return nil, err
		}
		out[v.Name] = dir
	}
	return out, nil
}

// hostPath checks a hostPath volume's type, creating what the type says
// to create.
func hostPath(h *api.HostPathVolumeSource) (string, error) {
	t := api.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	fi, err := os.Stat(h.Path)
	switch t {
	case api.HostPathUnset:
		return h.Path, nil
	case api.HostPathDirectoryOrCreate:
		if os.IsNotExist(err) {
			return h.Path, os.MkdirAll(h.Path, 0o755)
		}
		if err == nil && !fi.IsDir() {
			return "", configErrorf("hostPath %s is not a directory", h.Path)
		}
	case api.HostPathFileOrCreate:
		if os.IsNotExist(err) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			return h.Path, f.Close()
		}
		if err == nil && fi.IsDir() {
			return "", configErrorf("hostPath %s is a directory, not a file", h.Path)
		}
	default:
		if err != nil {
			return "", configErrorf("hostPath %s (type %s): %v", h.Path, t, err)
		}
		want := map[api.HostPathType]os.FileMode{
			api.HostPathDirectory: os.ModeDir, api.HostPathFile: 0, api.HostPathSocket: os.ModeSocket,
			api.HostPathCharDev: os.ModeDevice | os.ModeCharDevice, api.HostPathBlockDev: os.ModeDevice,
		}[t]
		if fi.Mode().Type() != want {
			return "", configErrorf("hostPath %s is not of type %s", h.Path, t)
		}
	}
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	return h.Path, nil
}

func (a *Agent) configMapVolume(dir string, v api.Volume, src *sources) error {
	cm, err := src.configMap(v.ConfigMap.Name)
	if err != nil {
		return err
	}
	if cm == nil {
		if isTrue(v.ConfigMap.Optional) {
			return writeProjected(dir, nil, nil, v.ConfigMap.DefaultMode)
		}
		return configErrorf("configmap %q not found (volume %q)", v.ConfigMap.Name, v.Name)
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return projectKeys(dir, "configmap", v.ConfigMap.Name, v.Name, data, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
}

func (a *Agent) secretVolume(dir string, v api.Volume, src *sources) error {
	sec, err := src.secret(v.Secret.SecretName)
	if err != nil {
		return err
	}
	if sec == nil {
		if isTrue(v.Secret.Optional) {
			return writeProjected(dir, nil, nil, v.Secret.DefaultMode)
		}
		return configErrorf("secret %q not found (volume %q)", v.Secret.SecretName, v.Name)
	}
	return projectKeys(dir, "secret", v.Secret.SecretName, v.Name, sec.Data, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
}

// projectKeys picks the keys a volume asks for (all, or items) and writes
// them as files.
func projectKeys(dir, kind, name, volume string, data map[string][]byte, items []api.KeyToPath, optional *bool, mode *int32) error {
	files := map[string][]byte{}
	modes := map[string]*int32{}
	if len(items) == 0 {
		for k, b := range data {
			files[k] = b
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if isTrue(optional) {
				continue
			}
			return configErrorf("%s %q has no key %q (volume %q)", kind, name, it.Key, volume)
		}
		files[it.Path] = b
		modes[it.Path] = it.Mode
	}
	return writeProjected(dir, files, modes, mode)
}

// writeProjected makes dir hold exactly files (relative paths), writing
// only what differs.
func writeProjected(dir string, files map[string][]byte, modes map[string]*int32, defaultMode *int32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		clean := filepath.Clean(n)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return configErrorf("volume file path %q leaves the volume", n)
		}
		path := filepath.Join(dir, clean)
		mode := os.FileMode(0o644)
		if defaultMode != nil {
			mode = os.FileMode(*defaultMode) & os.ModePerm
		}
		if m := modes[n]; m != nil {
			mode = os.FileMode(*m) & os.ModePerm
		}
		if err := writeIfChanged(path, files[n], mode); err != nil {
			return err
		}
	}
	// Remove files for keys that went away.
	return filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if _, ok := files[rel]; !ok {
			return os.Remove(path)
		}
		return nil
	})
}

// writeIfChanged writes data to path only when it differs, so that a
// sync with nothing new writes nothing.
func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != mode {
			return os.Chmod(path, mode)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// mounts turns a container's volumeMounts into bind mounts.
func mounts(c *api.Container, vols map[string]string) ([]container.Mount, error) {
	out := make([]container.Mount, 0, len(c.VolumeMounts))
	for _, m := range c.VolumeMounts {
		src, ok := vols[m.Name]
		if !ok {
			return nil, configErrorf("container %q mounts volume %q, which the pod does not have", c.Name, m.Name)
		}
		if m.SubPath != "" {
			clean := filepath.Clean(m.SubPath)
			if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, configErrorf("container %q: subPath %q leaves volume %q", c.Name, m.SubPath, m.Name)
			}
			src = filepath.Join(src, clean)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, container.Mount{Source: src, Destination: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out, nil
}

// removePodDirs deletes a pod's directories: volumes, /etc files and
// logs. Local (persistentVolumeClaim) volumes live elsewhere and stay.
func (a *Agent) removePodDirs(uid string) error {
	p := a.podPaths(uid)
	var errs []error
	for _, d := range []string{p.state, p.data} {
		if err := os.RemoveAll(d); err != nil && !isBusy(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove pod %s files: %v", uid, errs)
	}
	return nil
}

func isBusy(err error) bool {
	pe, ok := err.(*os.PathError)
	return ok && pe.Err == syscall.EBUSY
}
