package testimages

import (
	"archive/tar"
	"errors"
	"io"
	"time"
)

// tarWriter writes the entries of a reproducible tarball and keeps the
// first error for close. (tar.Writer alone would lose one: a header it
// rejects is not an error its Close reports, and the Write of that
// entry's content then fails with ErrWriteTooLong, which it does not keep
// either.)
type tarWriter struct {
	tw  *tar.Writer
	err error
}

func newTarWriter(w io.Writer) *tarWriter { return &tarWriter{tw: tar.NewWriter(w)} }

func (t *tarWriter) dir(name string, mode int64) {
	t.entry(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}, nil)
}

func (t *tarWriter) file(name string, mode int64, b []byte) {
	t.entry(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(b))}, b)
}

func (t *tarWriter) symlink(name, target string) {
	t.entry(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}, nil)
}

func (t *tarWriter) entry(h *tar.Header, content []byte) {
	if t.err != nil {
		return
	}
	if t.err = t.tw.WriteHeader(header(h)); t.err == nil && len(content) > 0 {
		_, t.err = t.tw.Write(content)
	}
}

// close writes the tarball's end and returns the first error.
func (t *tarWriter) close() error { return errors.Join(t.err, t.tw.Close()) }

// header fills in what every entry shares: root owner, the fixed time,
// and the PAX-free USTAR format.
func header(h *tar.Header) *tar.Header {
	h.ModTime = time.Unix(epochUnix, 0).UTC()
	h.Uid, h.Gid = 0, 0
	h.Uname, h.Gname = "root", "root"
	h.Format = tar.FormatUSTAR
	return h
}
