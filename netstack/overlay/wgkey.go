package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/skiffhq/skiff/server/api/errdefs"
)

// LocalPublicKey returns this node's WireGuard public key (base64, as
// `wg pubkey` prints it), which its agent publishes in its Node's
// WireGuardKeyAnnotation. It reads Config.WireGuardKeyFile, making it
// with a fresh private key if it is missing, so it can be called before
// the first Sync; it touches nothing in the kernel.
func (o *Overlay) LocalPublicKey() (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	key, err := o.privateKey()
	if err != nil {
		return "", err
	}
	return key.PublicKey().String(), nil
}

// privateKey is this node's private key: read from
// Config.WireGuardKeyFile (made with a fresh key if missing) the first
// time, and the same key after, whatever becomes of the file — the other
// nodes know this node by the public key its agent published at start,
// so a key file that is deleted or replaced under a running agent is
// said (it takes effect at the next start) but changes nothing now.
func (o *Overlay) privateKey() (wgtypes.Key, error) {
	if o.key != nil {
		onDisk, err := readKeyFile(o.cfg.WireGuardKeyFile)
		changed := err != nil || onDisk != *o.key
		if changed && !o.keyWarned {
			o.log.Error("the WireGuard key file is gone or changed under the running agent; keeping the key the other nodes know until it restarts",
				"file", o.cfg.WireGuardKeyFile, "err", err)
		}
		o.keyWarned = changed
		return *o.key, nil
	}
	key, err := o.loadKey()
	if err == nil {
		o.key = &key
	}
	return key, err
}

func (o *Overlay) loadKey() (wgtypes.Key, error) {
	path := o.cfg.WireGuardKeyFile
	if path == "" {
		return wgtypes.Key{}, fmt.Errorf("overlay: WireGuardKeyFile is empty: the wireguard backend needs the path of this node's private key: %w", errdefs.ErrInvalid)
	}
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
		if err == nil {
			o.log.Info("made a new WireGuard key", "file", path, "public_key", key.PublicKey().String())
		}
	}
	return key, err
}

func readKeyFile(path string) (wgtypes.Key, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return wgtypes.Key{}, err
	}
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: read WireGuard key: %w", err)
	}
	key, err := wgtypes.ParseKey(strings.TrimSpace(string(b)))
	if err == nil && key == (wgtypes.Key{}) {
		err = errors.New("the key is all zeros")
	}
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: WireGuard key file %s holds no private key (want one line of base64 as `wg genkey` writes; %v): fix it, or delete it to have a new key made (the other nodes then learn the new public key from the Node annotation): %w", path, err, errdefs.ErrInvalid)
	}
	return key, nil
}

// createKeyFile writes a fresh private key to path, mode 0600, all at
// once: into a temporary file in the same directory, then linked into
// place, so that no reader ever sees half a key and a file another
// process made meanwhile wins (its key is returned). On a file system
// without hard links the temporary file is renamed instead.
func createKeyFile(path string) (wgtypes.Key, error) {
	key, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: make a WireGuard key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: WireGuard key file: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: write WireGuard key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(key.String() + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return wgtypes.Key{}, fmt.Errorf("overlay: write WireGuard key %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	} else if err != nil {
		if err := os.Rename(tmp, path); err != nil {
			return wgtypes.Key{}, fmt.Errorf("overlay: write WireGuard key: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return key, nil
}

// parsePublicKey returns a remote's key as wg prints it, or an error
// when it is not base64 of 32 bytes.
func parsePublicKey(s string) (string, error) {
	k, err := wgtypes.ParseKey(strings.TrimSpace(s))
	if err == nil && k == (wgtypes.Key{}) {
		err = errors.New("all zeros")
	}
	if err != nil {
		return "", fmt.Errorf("%q is not a WireGuard public key (base64 of 32 bytes): %v", s, err)
	}
	return k.String(), nil
}
