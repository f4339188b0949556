package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// isServerKey tells `config set core.https_address :8443` from `config set
// c1 KEY VALUE`: instance names never contain '.' or '='; server keys do.
func isServerKey(arg string) bool {
	return strings.ContainsAny(arg, ".=") && !strings.Contains(arg, "/")
}

func setServerConfig(cmd *cobra.Command, args []string) error {
	kv := map[string]string{}
	if len(args) == 2 && !containsEq(args[0]) {
		kv[args[0]] = args[1]
	} else {
		var err error
		if kv, err = parseKV(args); err != nil {
			return err
		}
	}
	for k, v := range kv {
		if v == "" {
			return fmt.Errorf("server key %s: empty value; use `lodge config unset %s`", k, k)
		}
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return c.UpdateServerConfig(cmd.Context(), kv)
}

func unsetServerConfig(cmd *cobra.Command, keys []string) error {
	kv := map[string]string{}
	for _, k := range keys {
		kv[k] = ""
	}
	c, err := connect()
	if err != nil {
		return err
	}
	return c.UpdateServerConfig(cmd.Context(), kv)
}

func getServerConfig(cmd *cobra.Command, key string) error {
	c, err := connect()
	if err != nil {
		return err
	}
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
