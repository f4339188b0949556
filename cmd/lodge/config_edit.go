package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"

	"lodge/api"
)

func configKeysCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keys",
		Short: "List the instance config keys lodged accepts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			md, err := c.GetConfigMetadata(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tTYPE\tDEFAULT\tLIVE\tDESCRIPTION")
			for _, k := range md.Instance.Keys {
				live := "no"
				if k.LiveUpdate {
					live = "yes"
				}
				def := k.Default
				if def == "" {
					def = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, k.Type, def, live, k.ShortDesc)
			}
			for _, ns := range md.Instance.Namespaces {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ns.Prefix, "string", "-", "yes", ns.ShortDesc)
			}
			return tw.Flush()
		},
	}
}

// editable is what config edit and show put in YAML: LXD's layout.
type editable struct {
	api.InstancePut `yaml:",inline"`
	Name            string `yaml:"name"`
}

const editHeader = `### This is a YAML representation of the configuration.
### Any line starting with a '#' will be ignored.
###
### Saving an unchanged file leaves the instance as it is.
`

// editYAML runs $EDITOR (else VISUAL, else vi) on text until apply accepts
// the result, re-opening it with the error on top as LXD does. Without a
// terminal on stdin the new content is read from stdin instead.
func editYAML(cmd *cobra.Command, text []byte, apply func([]byte) error) error {
	if f, ok := cmd.InOrStdin().(*os.File); ok && !term.IsTerminal(int(f.Fd())) && os.Getenv("EDITOR") == "" && os.Getenv("VISUAL") == "" {
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		return apply(b)
	}
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = os.Getenv("VISUAL")
	}
	if editor == "" {
		editor = "vi"
	}
	tmp, err := os.CreateTemp("", "lodge-edit-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tmp.Close()
	content := append([]byte(editHeader), text...)
	for {
		if err := os.WriteFile(tmp.Name(), content, 0o600); err != nil {
			return err
		}
		ed := exec.Command("sh", "-c", editor+` "$1"`, "editor", tmp.Name())
		ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := ed.Run(); err != nil {
			return fmt.Errorf("editor %q: %w", editor, err)
		}
		edited, err := os.ReadFile(tmp.Name())
		if err != nil {
			return err
		}
		body := stripComments(edited)
		if bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(stripComments(content))) {
			return nil
		}
		err = apply(body)
		if err == nil {
			return nil
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "Error: %v\nRe-opening the editor; save it unchanged to give up.\n", err)
		var b strings.Builder
		b.WriteString(editHeader)
		b.WriteString("###\n")
		for _, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
			b.WriteString("### Error: " + l + "\n")
		}
		b.Write(body)
		content = []byte(b.String())
	}
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			continue
		}
		out = append(out, l...)
	}
	return out
}

func configEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit INSTANCE",
		Short: "Edit an instance's configuration as YAML in $EDITOR (or from stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			inst, etag, err := c.GetInstance(cmd.Context(), name)
			if err != nil {
				return err
			}
			text, err := yaml.Marshal(editable{inst.InstancePut, inst.Name})
			if err != nil {
				return err
			}
			return editYAML(cmd, text, func(b []byte) error {
				var put editable
				dec := yaml.NewDecoder(bytes.NewReader(b))
				dec.KnownFields(true)
				if err := dec.Decode(&put); err != nil && err != io.EOF {
					return fmt.Errorf("YAML: %v", err)
				}
				if put.Name != "" && put.Name != name {
					return fmt.Errorf("name: renaming is not done by edit (keep name: %s)", name)
				}
				op, err := c.UpdateInstance(cmd.Context(), name, put.InstancePut, etag)
				if err != nil {
					return err
				}
				if err := op.Wait(cmd.Context()); err != nil {
					return err
				}
				_, etag, _ = c.GetInstance(cmd.Context(), name)
				return nil
			})
		},
	}
}
