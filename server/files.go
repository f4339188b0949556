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
	"lodge/server/daemon"
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

func setFileHeaders(w http.ResponseWriter, in files.Info) {
	h := w.Header()
	h.Set("X-LXD-uid", strconv.Itoa(in.UID))
	h.Set("X-LXD-gid", strconv.Itoa(in.GID))
	h.Set("X-LXD-mode", fmt.Sprintf("%04o", in.Mode))
	h.Set("X-LXD-type", in.Type)
	h.Set("X-LXD-modified", in.ModTime.UTC().String())
}

func (s *Server) fileGet(r *http.Request) (response, error) {
	p, err := filePath(r)
	if err != nil {
		return nil, err
	}
	f, err := s.d.ReadFile(r.Context(), r.PathValue("name"), p)
	if err != nil {
		return nil, err
	}
	return stream(func(w http.ResponseWriter) {
		setFileHeaders(w, f.Info)
		switch f.Type {
		case "directory":
			writeSync(w, f.Names)
		case "symlink":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write([]byte(f.Target))
		default:
			defer f.Content.Close()
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", "inline;filename="+path.Base(p))
			if r.Method != http.MethodGet || r.Header.Get("Range") != "" || f.Size <= 0 {
				// Streams from the file (Range and HEAD included), never buffering it.
				http.ServeContent(w, r, path.Base(p), f.ModTime, f.Content)
				return
			}
			// A whole-file GET, the common pull: 1 MiB writes to the socket
			// instead of ServeContent's 32 KiB ones.
			w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
			w.Header().Set("Last-Modified", f.ModTime.UTC().Format(http.TimeFormat))
			_, _ = io.CopyBuffer(struct{ io.Writer }{w}, io.LimitReader(f.Content, f.Size), make([]byte, 1<<20))
		}
	}), nil
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

// fileWrite reads a file push's X-LXD-* headers.
func fileWrite(r *http.Request) (fw daemon.FileWrite, err error) {
	if fw.UID, err = parseID(r, "uid"); err != nil {
		return fw, err
	}
	if fw.GID, err = parseID(r, "gid"); err != nil {
		return fw, err
	}
	if m := fileHeader(r, "mode"); m != "" {
		mode, err := strconv.ParseUint(m, 8, 32)
		if err != nil || mode > 0o7777 {
			return fw, errdefs.Invalidf("X-LXD-mode %q is not an octal file mode such as 0644", m)
		}
		fw.Mode = uint32(mode)
	}
	switch wm := fileHeader(r, "write"); wm {
	case "", "overwrite":
	case "append":
		fw.Append = true
	default:
		return fw, errdefs.Invalidf("X-LXD-write %q: use overwrite or append", wm)
	}
	fw.Type, fw.Body = fileHeader(r, "type"), r.Body
	return fw, nil
}

func (s *Server) filePost(r *http.Request) (response, error) {
	fw, err := fileWrite(r)
	if err != nil {
		return nil, err
	}
	p, err := filePath(r)
	if err != nil {
		return nil, err
	}
	if fw.Type == "symlink" {
		var target strings.Builder
		if _, err := copyLimited(&target, r, 4096); err != nil {
			return nil, err
		}
		fw.Target = target.String()
	}
	return replyEmpty(), s.d.WriteFile(r.Context(), r.PathValue("name"), p, fw)
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

func (s *Server) fileDelete(r *http.Request) (response, error) {
	p, err := filePath(r)
	if err != nil {
		return nil, err
	}
	return replyEmpty(), s.d.RemoveFile(r.Context(), r.PathValue("name"), p)
}
