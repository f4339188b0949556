// Package manpage is the hidden `manpage DIR` command of lodge and lodged
// (as `lxc manpage`): it writes a section 1 man page for every command of
// the tree with cobra's doc generator. make man (and make deb) run it, so
// the pages always match the flags the binaries have.
package manpage

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Command returns the hidden manpage command for root.
func Command(root *cobra.Command, version string) *cobra.Command {
	return &cobra.Command{
		Use:    "manpage DIR",
		Short:  "Write man pages for every command to DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Write(root, version, args[0])
		},
	}
}

// Write writes root's man pages into dir. The pages' date is
// $SOURCE_DATE_EPOCH when set, so that a package build is reproducible.
func Write(root *cobra.Command, version, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man page directory: %w", err)
	}
	date := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
		}
		date = time.Unix(sec, 0).UTC()
	}
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{
		Section: "1",
		Source:  "lodge " + version,
		Manual:  "lodge manual",
		Date:    &date,
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("write man pages to %s: %w", dir, err)
	}
	return nil
}
