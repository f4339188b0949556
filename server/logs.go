package server

import (
	"io"
	"net/http"
	"os"
	"strconv"

	"lodge/server/daemon"
)

// logsGet lists an instance's log files (lxc info --show-log reads lxc.log).
func (s *Server) logsGet(r *http.Request) (response, error) {
	name := r.PathValue("name")
	files, err := s.d.InstanceLogs(r.Context(), name)
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(files))
	for _, f := range files {
		urls = append(urls, daemon.LogURL(name, f))
	}
	return reply(urls), nil
}

// logGet streams one log file.
func (s *Server) logGet(r *http.Request) (response, error) {
	return streamFile(s.d.OpenInstanceLog(r.Context(), r.PathValue("name"), r.PathValue("file")))
}

// streamFile sends an opened file as it is now: its size when opened, so
// a log still growing does not outrun its Content-Length.
func streamFile(f *os.File, err error) (response, error) {
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return stream(func(w http.ResponseWriter) {
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, io.LimitReader(f, fi.Size()))
	}), nil
}

func (s *Server) logDelete(r *http.Request) (response, error) {
	if err := s.d.DeleteInstanceLog(r.Context(), r.PathValue("name"), r.PathValue("file")); err != nil {
		return nil, err
	}
	return replyEmpty(), nil
}
