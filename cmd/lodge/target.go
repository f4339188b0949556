package main

import (
	"fmt"

	"lodge/client"
	"lodge/client/cliconfig"
)

// How a command finds its server: it parses its arguments into
// cliconfig.Refs ([remote:]name) first, then connects to the remote each
// names. Nothing here keeps state between calls, so a command can never
// act on another server than the one its argument named.

func loadConfig() (*cliconfig.Config, error) {
	return cliconfig.Load(cliconfig.DefaultDir())
}

// parseRef splits a [remote:]name argument.
func parseRef(arg string) (cliconfig.Ref, error) {
	cfg, err := loadConfig()
	if err != nil {
		return cliconfig.Ref{}, err
	}
	return cfg.ParseRef(arg)
}

// connectTo opens the API of the named remote.
func connectTo(remote string) (*client.Client, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return cfg.Connect(remote)
}

// connect opens the default remote's API (the local daemon unless
// `lodge remote switch` chose another), for commands that name nothing.
func connect() (*client.Client, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return cfg.Connect(cfg.DefaultRemote)
}

// instanceClient parses a [remote:]name argument (an instance, profile,
// network, pool...) and connects to the server it names.
func instanceClient(arg string) (string, *client.Client, error) {
	cfg, err := loadConfig()
	if err != nil {
		return "", nil, err
	}
	ref, err := cfg.ParseRef(arg)
	if err != nil {
		return "", nil, err
	}
	if ref.Name == "" {
		return "", nil, fmt.Errorf("%q names a remote but no object on it: give %s:NAME", arg, ref.Remote)
	}
	c, err := cfg.Connect(ref.Remote)
	return ref.Name, c, err
}

// remoteClient handles the optional leading "REMOTE:" of commands such as
// list: it connects to that remote, or to the default one, and returns the
// arguments that follow it.
func remoteClient(args []string) (*client.Client, []string, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, nil, err
	}
	remote := cfg.DefaultRemote
	if len(args) > 0 && len(args[0]) > 0 && args[0][len(args[0])-1] == ':' {
		ref, err := cfg.ParseRef(args[0])
		if err != nil {
			return nil, nil, err
		}
		if ref.Name != "" {
			return nil, nil, fmt.Errorf("%q: expected REMOTE: alone", args[0])
		}
		remote, args = ref.Remote, args[1:]
	}
	c, err := cfg.Connect(remote)
	return c, args, err
}

// servers connects once per remote, for commands that take several
// [remote:]name arguments (start a hostb:b, delete ...).
type servers struct {
	cfg   *cliconfig.Config
	conns map[string]*client.Client
}

func newServers() (*servers, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return &servers{cfg: cfg, conns: map[string]*client.Client{}}, nil
}

// resolve parses arg and returns the name on its server and that server.
func (s *servers) resolve(arg string) (string, *client.Client, error) {
	ref, err := s.cfg.ParseRef(arg)
	if err != nil {
		return "", nil, err
	}
	if ref.Name == "" {
		return "", nil, fmt.Errorf("%q names a remote but no object on it: give %s:NAME", arg, ref.Remote)
	}
	c, err := s.get(ref.Remote)
	return ref.Name, c, err
}

func (s *servers) get(remote string) (*client.Client, error) {
	if c, ok := s.conns[remote]; ok {
		return c, nil
	}
	c, err := s.cfg.Connect(remote)
	if err != nil {
		return nil, err
	}
	s.conns[remote] = c
	return c, nil
}

// sameRemote refuses a rename between two servers: a rename stays on
// one server, a move goes to another.
func sameRemote(verb string, a, b cliconfig.Ref) error {
	if a.Remote != b.Remote {
		return fmt.Errorf("%s from %s: to %s: a %s stays on one server; to take an instance to another server, use lodge move %s %s:NAME", verb, a.Remote, b.Remote, verb, a, b.Remote)
	}
	return nil
}

// remoteOnly is remoteClient for commands whose only argument is an
// optional REMOTE: (list, monitor, ...).
func remoteOnly(args []string) (*client.Client, error) {
	c, rest, err := remoteClient(args)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%q: expected a remote (REMOTE:) or nothing", rest[0])
	}
	return c, err
}
