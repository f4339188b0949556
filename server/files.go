package server

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"lodge/errdefs"
	"lodge/files"
	"lodge/idmap"
)

// fileHeader reads an X-LXD-* header, or its X-Incus-* spelling.
func fileHeader(r *http.Request, name string) string {
	if v := r.Header.Get("X-LXD-" + name); v != "" {
		return v
	}
	return r.Header.Get("X-Incus-" + name)
}

func filePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", errdefs.Invalidf("missing ?path= (the file's path inside the instance)")
	}
	// The LXD client sends pull and delete paths without their leading /.
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p, nil
}

func setFileHeaders(w http.ResponseWriter, in files.Info, m idmap.Map) {
	// Owners as the container sees them.
	in.UID, in.GID = int(m.ContainerUID(int64(in.UID))), int(m.ContainerGID(int64(in.GID)))
	h := w.Header()
	h.Set("X-LXD-uid", strconv.Itoa(in.UID))
	h.Set("X-LXD-gid", strconv.Itoa(in.GID))
	h.Set("X-LXD-mode", fmt.Sprintf("%04o", in.Mode))
	h.Set("X-LXD-type", in.Type)
	h.Set("X-LXD-modified", in.ModTime.UTC().String())
}

func (s *Server) handleFileGet(w http.ResponseWriter, r *http.Request) {
	name, p, root, ok := s.fileRequest(w, r)
	if !ok {
		return
	}
	defer root.Close()
	m := s.d.fileIDMap(r.Context(), name)
	in, err := root.Lstat(p)
	if err != nil {
		writeError(w, fileErr(name, err))
		return
	}
	switch in.Type {
	case "directory":
		names, din, err := root.ReadDir(p)
		if err != nil {
			writeError(w, fileErr(name, err))
			return
		}
		setFileHeaders(w, din, m)
		writeSync(w, names)
	case "symlink":
		setFileHeaders(w, in, m)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte(in.Target))
	default:
		f, fin, err := root.OpenFile(p)
		if err != nil {
			writeError(w, fileErr(name, err))
			return
		}
		defer f.Close()
		setFileHeaders(w, fin, m)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", "inline;filename="+path.Base(p))
		if r.Method != http.MethodGet || r.Header.Get("Range") != "" || fin.Size <= 0 {
			// Streams from the file (Range and HEAD included), never buffering it.
			http.ServeContent(w, r, path.Base(p), fin.ModTime, f)
			return
		}
		// A whole-file GET, the common pull: 1 MiB writes to the socket
		// instead of ServeContent's 32 KiB ones.
		w.Header().Set("Content-Length", strconv.FormatInt(fin.Size, 10))
		w.Header().Set("Last-Modified", fin.ModTime.UTC().Format(http.TimeFormat))
		_, _ = io.CopyBuffer(struct{ io.Writer }{w}, io.LimitReader(f, fin.Size), make([]byte, 1<<20))
	}
}

// fileRequest reads the instance and ?path= of a files request and opens
// the instance's root; on failure it has answered the client.
func (s *Server) fileRequest(w http.ResponseWriter, r *http.Request) (string, string, *files.Root, bool) {
	name := r.PathValue("name")
	p, err := filePath(r)
	if err != nil {
		writeError(w, err)
		return "", "", nil, false
	}
	root, err := s.d.openRoot(r.Context(), name)
	if err != nil {
		writeError(w, err)
		return "", "", nil, false
	}
	return name, p, root, true
}

func fileErr(name string, err error) error {
	return fmt.Errorf("instance %q: %w", name, err)
}

func parseID(r *http.Request, header string) (int, error) {
	v := fileHeader(r, header)
	if v == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1<<31-2 {
		return 0, errdefs.Invalidf("X-LXD-%s %q is not a valid id", header, v)
	}
	return n, nil
}

func (s *Server) handleFilePost(w http.ResponseWriter, r *http.Request) {
	var err error
	opt := files.WriteOptions{}
	if opt.UID, err = parseID(r, "uid"); err != nil {
		writeError(w, err)
		return
	}
	if opt.GID, err = parseID(r, "gid"); err != nil {
		writeError(w, err)
		return
	}
	if m := fileHeader(r, "mode"); m != "" {
		mode, err := strconv.ParseUint(m, 8, 32)
		if err != nil || mode > 0o7777 {
			writeError(w, errdefs.Invalidf("X-LXD-mode %q is not an octal file mode such as 0644", m))
			return
		}
		opt.Mode = uint32(mode)
	}
	switch wm := fileHeader(r, "write"); wm {
	case "", "overwrite":
	case "append":
		opt.Append = true
	default:
		writeError(w, errdefs.Invalidf("X-LXD-write %q: use overwrite or append", wm))
		return
	}
	name, p, root, ok := s.fileRequest(w, r)
	if !ok {
		return
	}
	defer root.Close()
	// Owners are container ids (default: its root), stored shifted.
	if m := s.d.fileIDMap(r.Context(), name); !m.IsIdentity() {
		opt.UID = int(m.HostUID(int64(max(opt.UID, 0))))
		opt.GID = int(m.HostGID(int64(max(opt.GID, 0))))
	}
	switch t := fileHeader(r, "type"); t {
	case "", "file":
		err = root.WriteFile(p, r.Body, opt)
	case "directory":
		err = root.Mkdir(p, opt)
	case "symlink":
		var target strings.Builder
		if _, cerr := copyLimited(&target, r, 4096); cerr != nil {
			writeError(w, cerr)
			return
		}
		err = root.Symlink(p, target.String(), opt)
	default:
		writeError(w, errdefs.Invalidf("X-LXD-type %q: use file, directory or symlink", t))
		return
	}
	if err != nil {
		writeError(w, fileErr(name, err))
		return
	}
	writeSync(w, map[string]any{})
}

func copyLimited(dst *strings.Builder, r *http.Request, limit int64) (int64, error) {
	buf := make([]byte, limit+1)
	n := 0
	for n < len(buf) {
		m, err := r.Body.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	if int64(n) > limit {
		return 0, errdefs.Invalidf("symlink target longer than %d bytes", limit)
	}
	dst.Write(buf[:n])
	return int64(n), nil
}

func (s *Server) handleFileDelete(w http.ResponseWriter, r *http.Request) {
	name, p, root, ok := s.fileRequest(w, r)
	if !ok {
		return
	}
	defer root.Close()
	if err := root.Remove(p); err != nil {
		writeError(w, fileErr(name, err))
		return
	}
	writeSync(w, map[string]any{})
}
