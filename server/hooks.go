package server

import (
	"net/http"
)

// A container whose init powers off by itself (poweroff inside it) must not
// come back at lodged's next start, as one lodged stopped with the host
// must. liblxc runs a post-stop hook after every stop: "lodged callhook
// SOCKET NAME", a re-exec of lodged that C code handles before Go starts
// (instances/lxc/helper_c.c), tells the running lodged (onstop), which
// records the instance as stopped unless the stop was its own doing. With
// lodged down (a host going down stops lodged first, then kills what runs)
// nobody hears the hook and the instance keeps its last state, as with LXD.

// StopHook is the hook command for the driver (the instance name follows).
func StopHook(self, dir string) []string { return []string{self, "callhook", SocketPath(dir)} }

// instanceOnStop is the post-stop hook's call (Daemon.NoteStopped).
func (s *Server) instanceOnStop(r *http.Request) (response, error) {
	return replyEmpty(), s.d.NoteStopped(r.Context(), r.PathValue("name"))
}
