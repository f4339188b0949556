package server

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// A container whose init powers off by itself (poweroff inside it) must not
// come back at lodged's next start, as one lodged stopped with the host
// must. liblxc runs a post-stop hook after every stop: HookMain, a re-exec
// of lodged, tells the running lodged (onstop), which records the instance
// as stopped unless the stop was its own doing. With lodged down (a host
// going down stops lodged first, then kills what runs) nobody hears the
// hook and the instance keeps its last state, as with LXD.

// HookMain handles "callhook SOCKET NAME ...", the post-stop hook (liblxc
// appends the name, section and hook type). It never fails: a failing
// post-stop hook would turn a reboot inside the container into a stop.
func HookMain(args []string) (handled bool, exitCode int) {
	if len(args) < 3 || args[0] != "callhook" {
		return false, 0
	}
	if os.Getenv("LXC_TARGET") != "stop" {
		return true, 0 // a reboot: liblxc starts it again itself
	}
	sock, name := args[1], args[2]
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
	if resp, err := c.Post("http://lodged/internal/instances/"+url.PathEscape(name)+"/onstop", "", nil); err == nil {
		resp.Body.Close()
	}
	return true, 0
}

// StopHook is the hook command for the driver (the instance name follows).
func StopHook(self, dir string) []string { return []string{self, "callhook", SocketPath(dir)} }

// instanceOnStop is the post-stop hook's call (Daemon.NoteStopped).
func (s *Server) instanceOnStop(r *http.Request) (response, error) {
	return replyEmpty(), s.d.NoteStopped(r.Context(), r.PathValue("name"))
}
