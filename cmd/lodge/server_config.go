package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// isServerKey tells `config set core.https_address :8443` (or `config set
// hostb: core.https_address :8443`) from `config set c1 KEY VALUE`:
// instance names never contain '.' or '='; server keys do.
func isServerKey(arg string) bool {
	if strings.HasSuffix(arg, ":") {
		return true
	}
	if k, _, _ := strings.Cut(arg, "="); strings.Contains(k, ":") {
		return false // REMOTE:INSTANCE
	}
	return strings.ContainsAny(arg, ".=") && !strings.Contains(arg, "/")
}

func setServerConfig(cmd *cobra.Command, args []string) error {
	c, args, err := remoteClient(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return fmt.Errorf("give the server KEY VALUE or KEY=VALUE")
	}
	kv := map[string]string{}
	if len(args) == 2 && !containsEq(args[0]) {
		kv[args[0]] = args[1]
	} else {
		if kv, err = parseKV(args); err != nil {
			return err
		}
	}
	for k, v := range kv {
		if v == "" {
			return fmt.Errorf("server key %s: empty value; use `lodge config unset %s`", k, k)
		}
	}
	return c.UpdateServerConfig(cmd.Context(), kv)
}

func unsetServerConfig(cmd *cobra.Command, args []string) error {
	c, keys, err := remoteClient(args)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("give the server key(s) to unset")
	}
	kv := map[string]string{}
	for _, k := range keys {
		kv[k] = ""
	}
	return c.UpdateServerConfig(cmd.Context(), kv)
}

func getServerConfig(cmd *cobra.Command, args []string) error {
	c, keys, err := remoteClient(args)
	if err != nil {
		return err
	}
	if len(keys) != 1 {
		return fmt.Errorf("give one server key")
	}
	key := keys[0]
	srv, err := c.GetServer(cmd.Context())
	if err != nil {
		return err
	}
	v := srv.Config[key]
	if v == nil {
		v = ""
	}
	fmt.Fprintln(cmd.OutOrStdout(), v)
	return nil
}
