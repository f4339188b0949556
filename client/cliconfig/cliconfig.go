// Package cliconfig is the CLI's configuration file, config.yml in LXD's
// shape: default-remote, remotes {name: {addr, protocol, public, auth_type}},
// aliases. It lives in $LODGE_CONF (LXD's LXD_CONF is honoured too), else
// ~/.config/lodge, next to the client certificate (client.crt, client.key)
// and pinned server certificates (servercerts/NAME.crt).
package cliconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Remote is one image or API server.
type Remote struct {
	Addr     string `yaml:"addr"`
	Protocol string `yaml:"protocol,omitempty"`
	Public   bool   `yaml:"public"`
	AuthType string `yaml:"auth_type,omitempty"`
	// Static remotes are built in: they cannot be removed or renamed.
	Static bool `yaml:"-"`
}

// Config is config.yml.
type Config struct {
	DefaultRemote string            `yaml:"default-remote"`
	Remotes       map[string]Remote `yaml:"remotes"`
	Aliases       map[string]string `yaml:"aliases"`

	// Dir is where the file was read from.
	Dir string `yaml:"-"`
}

// The built-in remotes, with the real public URLs (unreachable from a
// machine without internet, where they fail in seconds naming the URL).
var defaults = map[string]Remote{
	"local":        {Addr: "unix://", Protocol: "lxd", AuthType: "file access", Static: true},
	"images":       {Addr: "https://images.linuxcontainers.org", Protocol: "simplestreams", Public: true, AuthType: "none"},
	"ubuntu":       {Addr: "https://cloud-images.ubuntu.com/releases", Protocol: "simplestreams", Public: true, AuthType: "none", Static: true},
	"ubuntu-daily": {Addr: "https://cloud-images.ubuntu.com/daily", Protocol: "simplestreams", Public: true, AuthType: "none", Static: true},
}

// DefaultDir is $LODGE_CONF, else $LXD_CONF, else ~/.config/lodge.
func DefaultDir() string {
	if d := os.Getenv("LODGE_CONF"); d != "" {
		return d
	}
	if d := os.Getenv("LXD_CONF"); d != "" {
		return d
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "lodge")
	}
	return filepath.Join(os.Getenv("HOME"), ".config", "lodge")
}

// Load reads dir/config.yml; a missing file gives the defaults.
func Load(dir string) (*Config, error) {
	c := &Config{Dir: dir, Remotes: map[string]Remote{}, Aliases: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "config.yml"))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := yaml.Unmarshal(b, c); err != nil {
			return nil, fmt.Errorf("%s: %v (fix or remove the file)", filepath.Join(dir, "config.yml"), err)
		}
		if c.Remotes == nil {
			c.Remotes = map[string]Remote{}
		}
		if c.Aliases == nil {
			c.Aliases = map[string]string{}
		}
	}
	// A fresh config gets images:; the static ones are always there.
	if len(b) == 0 {
		c.Remotes["images"] = defaults["images"]
	}
	for name, r := range defaults {
		if r.Static {
			c.Remotes[name] = r
		}
	}
	if c.DefaultRemote == "" {
		c.DefaultRemote = "local"
	}
	return c, nil
}

// Save writes config.yml atomically (static remotes are not written).
func (c *Config) Save() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	out := Config{DefaultRemote: c.DefaultRemote, Remotes: map[string]Remote{}, Aliases: c.Aliases}
	for n, r := range c.Remotes {
		if !r.Static {
			out.Remotes[n] = r
		}
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, ".config.yml.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.Dir, "config.yml"))
}

// Names returns the remote names, sorted.
func (c *Config) Names() []string {
	out := make([]string, 0, len(c.Remotes))
	for n := range c.Remotes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ValidName checks a new remote's name.
func ValidName(name string) error {
	if name == "" || strings.ContainsAny(name, ":/ \t") {
		return fmt.Errorf("remote name %q is not valid: no ':', '/' or spaces", name)
	}
	return nil
}

// ServerCertPath is where the pinned certificate of remote name is kept.
func (c *Config) ServerCertPath(name string) string {
	return filepath.Join(c.Dir, "servercerts", name+".crt")
}

// ClientCertPaths are the client certificate and key.
func (c *Config) ClientCertPaths() (string, string) {
	return filepath.Join(c.Dir, "client.crt"), filepath.Join(c.Dir, "client.key")
}
