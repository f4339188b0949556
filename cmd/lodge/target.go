package main

import (
	"fmt"
	"strings"

	"lodge/client"
)

// targetRemote is the remote an argument named ("host2:c1"); commands then
// talk to it instead of the default remote.
var targetRemote string

// splitRemote handles a "REMOTE:" prefix on an instance or image argument:
// local: is stripped, another configured remote becomes the target.
func splitRemote(s string) (string, error) {
	i := strings.Index(s, ":")
	if i <= 0 || strings.Contains(s[:i], "/") {
		return s, nil
	}
	c, err := loadConfig()
	if err != nil {
		return "", err
	}
	r, ok := c.Remotes[s[:i]]
	if !ok {
		return "", fmt.Errorf("remote %q does not exist (see `lodge remote list`)", s[:i])
	}
	if r.Addr != "unix://" {
		targetRemote = s[:i]
	}
	return s[i+1:], nil
}

// connectTarget connects to the named remote, or the default one, when it
// is not the local daemon; ok is false for the local daemon.
func connectTarget() (*client.Client, bool, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, true, err
	}
	name := targetRemote
	if name == "" {
		name = c.DefaultRemote
	}
	r, ok := c.Remotes[name]
	if !ok || r.Addr == "unix://" {
		return nil, false, nil
	}
	if protocolOf(r) != "lxd" {
		return nil, true, fmt.Errorf("remote %q is an image server (%s): it runs no instances", name, r.Protocol)
	}
	tcfg, err := clientTLS(c, name)
	if err != nil {
		return nil, true, err
	}
	cl, err := client.ConnectHTTPS(r.Addr, tcfg)
	return cl, true, err
}
