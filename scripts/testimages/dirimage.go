package testimages

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DirImage is the config of an image WriteDirImage makes of a directory.
type DirImage struct {
	// Ref is the image's full reference with its tag, such as
	// skiff.test/python:3; containerd's Import names the image by it.
	Ref string
	// Env is the whole environment of the config, PATH included.
	Env []string
	// Entrypoint and Cmd are the config's, as in a Dockerfile.
	Entrypoint []string
	Cmd        []string
}

// WriteDirImage writes the tree at rootDir as a one-layer OCI image layout
// tarball to tarPath, through a temporary file beside it (the layer is
// streamed to disk, not held in memory). The layer keeps each entry's
// mode, owner and time, symlinks and hard links; the contents of /dev,
// /proc and /sys (device nodes, mounts) and sockets are left out, as the
// runtime provides them.
func WriteDirImage(tarPath, rootDir string, img DirImage) error {
	return writeDirImageFile(tarPath, rootDir, img)
}

func writeDirImageFile(tarPath, rootDir string, img DirImage) (err error) {
	if _, tag, ok := cutTag(img.Ref); !ok || tag == "" {
		return fmt.Errorf("image of %s: reference %q has no tag: want one such as %s/python:3", rootDir, img.Ref, Registry)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("image %s of %s: %w", img.Ref, rootDir, err)
		}
	}()
	dir := filepath.Dir(tarPath)
	layerFile, err := os.CreateTemp(dir, "."+filepath.Base(tarPath)+".layer.*")
	if err != nil {
		return err
	}
	defer os.Remove(layerFile.Name())
	defer layerFile.Close()
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(layerFile, h), 1<<20)
	if err := writeDirLayer(bw, rootDir); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	size, err := layerFile.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	layer := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil))),
		Size:      size,
	}
	config, manifest, index, err := dirImageMeta(img, layer)
	if err != nil {
		return err
	}
	if _, err := layerFile.Seek(0, io.SeekStart); err != nil {
		return err
	}

	out, err := os.CreateTemp(dir, "."+filepath.Base(tarPath)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	ow := bufio.NewWriterSize(out, 1<<20)
	tw := newTarWriter(ow)
	tw.file(ocispec.ImageLayoutFile, 0o644, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`))
	tw.file(ocispec.ImageIndexFile, 0o644, index)
	tw.dir(ocispec.ImageBlobsDir, 0o755)
	tw.dir(ocispec.ImageBlobsDir+"/sha256", 0o755)
	if tw.err == nil {
		tw.err = tw.tw.WriteHeader(header(&tar.Header{Typeflag: tar.TypeReg, Name: ocispec.ImageBlobsDir + "/sha256/" + layer.Digest.Encoded(), Mode: 0o644, Size: size}))
	}
	if tw.err == nil {
		_, tw.err = io.Copy(tw.tw, bufio.NewReaderSize(layerFile, 1<<20))
	}
	for _, b := range []blob{config, manifest} {
		tw.file(ocispec.ImageBlobsDir+"/sha256/"+b.desc.Digest.Encoded(), 0o644, b.data)
	}
	err = tw.close()
	if err == nil {
		err = ow.Flush()
	}
	if err = errors.Join(err, out.Chmod(0o644), out.Close()); err != nil {
		return err
	}
	return os.Rename(out.Name(), tarPath)
}

// dirImageMeta returns the config and manifest blobs and the index of a
// one-layer image.
func dirImageMeta(img DirImage, layer ocispec.Descriptor) (config, manifest blob, index []byte, err error) {
	arch, variant := Platform()
	created := time.Now().UTC().Truncate(time.Second)
	cfg := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: arch, OS: "linux", Variant: variant},
		Config:   ocispec.ImageConfig{Env: img.Env, Entrypoint: img.Entrypoint, Cmd: img.Cmd},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return blob{}, blob{}, nil, fmt.Errorf("config: %w", err)
	}
	config = newBlob(ocispec.MediaTypeImageConfig, cfgData)
	manData, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config.desc,
		Layers:    []ocispec.Descriptor{layer},
	})
	if err != nil {
		return blob{}, blob{}, nil, fmt.Errorf("manifest: %w", err)
	}
	manifest = newBlob(ocispec.MediaTypeImageManifest, manData)
	desc := manifest.desc
	desc.Platform = &cfg.Platform
	_, tag, _ := cutTag(img.Ref)
	desc.Annotations = map[string]string{"io.containerd.image.name": img.Ref, ocispec.AnnotationRefName: tag}
	index, err = json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{desc},
	})
	if err != nil {
		return blob{}, blob{}, nil, fmt.Errorf("index: %w", err)
	}
	return config, manifest, index, nil
}

// runtimeDirs are the root's directories whose contents the runtime
// mounts over; the layer has the directories, empty.
var runtimeDirs = map[string]bool{"dev": true, "proc": true, "sys": true}

// writeDirLayer writes the tree at root as an uncompressed layer tar,
// parents before children, in lexical order.
func writeDirLayer(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	type inode struct{ dev, ino uint64 }
	linked := map[inode]string{}
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if top, _, nested := strings.Cut(name, "/"); nested && runtimeDirs[top] {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		target := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if target, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, target)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		h.Name = name
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		h.ModTime = fi.ModTime().Truncate(time.Second)
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if fi.Mode().IsRegular() && st != nil && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := linked[key]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				linked[key] = name
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		} else if n != h.Size {
			return fmt.Errorf("%s: changed while being read (%d bytes, then %d)", path, h.Size, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	return nil
}

// cutTag splits ref at its tag: "skiff.test/python:3" is
// ("skiff.test/python", "3", true). A port in the host is not a tag.
func cutTag(ref string) (name, tag string, ok bool) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") || strings.Contains(ref, "@") {
		return ref, "", false
	}
	return ref[:i], ref[i+1:], true
}
