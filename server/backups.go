package server

import (
	"net/http"

	"lodge/api"
	"lodge/server/daemon"
	"lodge/server/db"
)

func renderBackup(b db.Backup) api.InstanceBackup {
	return api.InstanceBackup{Name: b.Name, CreatedAt: b.CreatedAt, ExpiresAt: b.ExpiresAt, InstanceOnly: b.InstanceOnly,
		ContainerOnly: b.InstanceOnly, OptimizedStorage: b.OptimizedStorage}
}

func (s *Server) backupsGet(r *http.Request) (response, error) {
	name := r.PathValue("name")
	list, err := s.d.Backups(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if recursion(r) == 0 {
		urls := make([]string, 0, len(list))
		for _, b := range list {
			urls = append(urls, daemon.BackupURL(name, b.Name))
		}
		return reply(urls), nil
	}
	out := make([]api.InstanceBackup, 0, len(list))
	for _, b := range list {
		out = append(out, renderBackup(b))
	}
	return reply(out), nil
}

func (s *Server) backupsPost(r *http.Request) (response, error) {
	var req api.InstanceBackupsPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.CreateBackup(r.Context(), r.PathValue("name"), req)
	return replyAsync(op), err
}

func (s *Server) backupGet(r *http.Request) (response, error) {
	b, err := s.d.Backup(r.Context(), r.PathValue("name"), r.PathValue("backup"))
	if err != nil {
		return nil, err
	}
	return reply(renderBackup(b)), nil
}

// backupPost renames a backup.
func (s *Server) backupPost(r *http.Request) (response, error) {
	var req api.InstanceBackupPost
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	op, err := s.d.RenameBackup(r.Context(), r.PathValue("name"), r.PathValue("backup"), req)
	return replyAsync(op), err
}

func (s *Server) backupDelete(r *http.Request) (response, error) {
	op, err := s.d.DeleteBackup(r.Context(), r.PathValue("name"), r.PathValue("backup"))
	return replyAsync(op), err
}

// backupExport streams a backup's tarball.
func (s *Server) backupExport(r *http.Request) (response, error) {
	return streamFile(s.d.OpenBackup(r.Context(), r.PathValue("name"), r.PathValue("backup")))
}

// instancesImport is POST /1.0/instances with an application/octet-stream
// body: a backup tarball (lxc import), X-LXD-name and X-LXD-pool overriding
// the name and pool it names.
func (s *Server) instancesImport(r *http.Request) (response, error) {
	op, err := s.d.ImportInstance(r.Context(), r.Body, daemon.ImportOptions{Name: r.Header.Get("X-LXD-name"), Pool: r.Header.Get("X-LXD-pool")})
	return replyAsync(op), err
}
