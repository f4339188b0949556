package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"lodge/errdefs"
)

// handleSFTP upgrades the connection to raw SFTP (Incus's /sftp endpoint),
// served by a re-exec of lodged chrooted into the instance's root.
func (s *Server) instanceSFTP(r *http.Request) (response, error) {
	name := r.PathValue("name")
	root, err := s.d.RootPath(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "sftp") {
		return nil, errdefs.Invalidf("this endpoint needs Connection: Upgrade and Upgrade: sftp")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return stream(func(w http.ResponseWriter) { s.serveSFTP(w, name, root, self) }), nil
}

// serveSFTP hands the connection, upgraded, to a "lodged forksftp ROOT".
func (s *Server) serveSFTP(w http.ResponseWriter, name, root, self string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, fmt.Errorf("connection cannot be upgraded"))
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok || buf.Reader.Buffered() > 0 {
		fmt.Fprintf(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return
	}
	f, err := uc.File()
	if err != nil {
		fmt.Fprintf(conn, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintf(conn, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: sftp\r\n\r\n"); err != nil {
		return
	}
	began := time.Now()
	cmd := exec.Command(self, "forksftp", root)
	cmd.Stdin, cmd.Stdout = f, f
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	if err := cmd.Run(); err != nil {
		s.log.Warn("sftp session ended with an error", "instance", name, "err", err, "stderr", errBuf.String())
	}
	// The SFTP server runs as host root, so what it made carries raw
	// container ids; give them the container's shifted ones. The session
	// is over: not the request's context, which has ended with it.
	if err := s.d.ShiftNewFiles(context.Background(), name, root, began); err != nil {
		s.log.Warn("sftp: shifting the owners of new files", "instance", name, "err", err)
	}
}
