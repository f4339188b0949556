package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"lodge/builder"
	"lodge/client"
)

func imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	cmd.AddCommand(imageListCmd(), imageInfoCmd(), imageDeleteCmd(), imageImportCmd(), imageExportCmd(), imageBuildCmd(), imageAliasCmd(),
		imageCopyCmd(), imageRefreshCmd(), imageStreamsCmd())
	return cmd
}

func shortFP(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}

func imageListCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "list [REMOTE:] [FILTER...]",
		Aliases: []string{"ls"},
		Short:   "List images, here or on a remote (filters: alias or fingerprint prefix, key=value)",
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if handled, err := remoteImageList(cmd, args, format); handled {
				return err
			}
			c, err := connect()
			if err != nil {
				return err
			}
			ims, err := c.GetImages(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(ims))
			for _, im := range ims {
				var aliases []string
				for _, a := range im.Aliases {
					aliases = append(aliases, a.Name)
				}
				rows = append(rows, []string{strings.Join(aliases, "\n"), shortFP(im.Fingerprint), yesNo(im.Public), im.Properties["description"],
					im.Architecture, "CONTAINER", humanBytes(im.Size), im.UploadedAt.UTC().Format("Jan 2, 2006 at 3:04pm (MST)")})
			}
			return render(cmd.OutOrStdout(), format, []string{"ALIAS", "FINGERPRINT", "PUBLIC", "DESCRIPTION", "ARCHITECTURE", "TYPE", "SIZE", "UPLOAD DATE"}, rows, ims)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", "table, csv, json or yaml")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func imageInfoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "info IMAGE",
		Short: "Show an image (alias or fingerprint prefix), here or on a remote",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if handled, err := remoteImageInfo(cmd, args[0]); handled {
				return err
			}
			ref, err := localName(args[0])
			if err != nil {
				return err
			}
			c, err := connect()
			if err != nil {
				return err
			}
			im, err := c.ResolveImage(cmd.Context(), ref)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Fingerprint: %s\nSize: %s\nArchitecture: %s\nType: container\nPublic: %s\n", im.Fingerprint, humanBytes(im.Size), im.Architecture, yesNo(im.Public))
			fmt.Fprintf(w, "Timestamps:\n    Created: %s\n    Uploaded: %s\n", im.CreatedAt.UTC().Format(time.RFC1123), im.UploadedAt.UTC().Format(time.RFC1123))
			fmt.Fprintf(w, "Properties:\n")
			for _, k := range sortedKeys(im.Properties) {
				fmt.Fprintf(w, "    %s: %s\n", k, im.Properties[k])
			}
			fmt.Fprintf(w, "Aliases:\n")
			for _, a := range im.Aliases {
				fmt.Fprintf(w, "    - %s\n", a.Name)
			}
			return nil
		},
	}
}

func imageDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete IMAGE...",
		Aliases: []string{"rm"},
		Short:   "Delete images",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			for _, arg := range args {
				ref, err := localName(arg)
				if err != nil {
					return err
				}
				im, err := c.ResolveImage(cmd.Context(), ref)
				if err != nil {
					return err
				}
				op, err := c.DeleteImage(cmd.Context(), im.Fingerprint)
				if err != nil {
					return err
				}
				if err := op.Wait(cmd.Context()); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// importFile uploads a tarball (with a progress bar on a terminal) and
// points the aliases at it; an image that exists already just gets them.
func importFile(ctx context.Context, c *client.Client, path string, aliases []string, stderr io.Writer) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	// Hashing while uploading gives the fingerprint even when the server
	// already has the image and refuses the upload.
	h := sha256.New()
	var r io.Reader = io.TeeReader(f, h)
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.DefaultBytes(fi.Size(), "Uploading image")
		defer bar.Close()
		r = io.TeeReader(r, bar)
	}
	op, err := c.CreateImage(ctx, r, filepath.Base(path))
	var se *client.StatusError
	switch {
	case err == nil:
		if err := op.Wait(ctx); err != nil {
			return "", err
		}
	case errors.As(err, &se) && se.Code == 409:
		// Already imported: (re)point the aliases at it.
		if _, err := io.Copy(h, f); err != nil {
			return "", err
		}
	default:
		return "", err
	}
	fp := hex.EncodeToString(h.Sum(nil))
	for _, a := range aliases {
		if err := setAlias(ctx, c, a, fp); err != nil {
			return fp, err
		}
	}
	return fp, nil
}

// setAlias creates the alias or repoints an existing one.
func setAlias(ctx context.Context, c *client.Client, alias, fp string) error {
	err := c.CreateImageAlias(ctx, alias, fp, "")
	var se *client.StatusError
	if errors.As(err, &se) && se.Code == 409 {
		return c.UpdateImageAlias(ctx, alias, fp, "")
	}
	return err
}

func imageImportCmd() *cobra.Command {
	var aliases []string
	cmd := &cobra.Command{
		Use:   "import TARBALL | METADATA ROOTFS",
		Short: "Import a unified image tarball, or a split image (metadata tarball and squashfs/tarball rootfs)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			var fp string
			if len(args) == 2 {
				fp, err = importSplitFiles(cmd.Context(), c, args[0], args[1], aliases)
			} else {
				fp, err = importFile(cmd.Context(), c, args[0], aliases, cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image imported with fingerprint: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the image (repeatable)")
	return cmd
}

func imageExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export IMAGE [TARGET]",
		Short: "Write an image's tarball to a file",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := localName(args[0])
			if err != nil {
				return err
			}
			c, err := connect()
			if err != nil {
				return err
			}
			im, err := c.ResolveImage(cmd.Context(), ref)
			if err != nil {
				return err
			}
			target := im.Fingerprint + ".tar"
			if im.Filename != "" {
				target = im.Filename
			}
			if len(args) == 2 {
				target = args[1]
			}
			// A split image comes as metadata + rootfs: two files.
			if written, err := exportSplit(cmd.Context(), c, im.Fingerprint, target); err != nil || written != nil {
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "Image exported to %s and %s\n", written[0], written[1])
				}
				return err
			}
			body, err := c.ExportImage(cmd.Context(), im.Fingerprint)
			if err != nil {
				return err
			}
			defer body.Close()
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, body); err != nil {
				f.Close()
				os.Remove(target)
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image exported to %s\n", target)
			return nil
		},
	}
}

func imageBuildCmd() *cobra.Command {
	var release, mirror string
	var aliases []string
	cmd := &cobra.Command{
		Use:   "build busybox|debian",
		Short: "Build an image on this host and import it (debian: debootstrap from the host's apt mirror)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			path, err := builder.Build(cmd.Context(), args[0], builder.Options{Release: release, Mirror: mirror, Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			fp, err := importFile(cmd.Context(), c, path, aliases, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image imported with fingerprint: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringVar(&release, "release", "", "debian: the suite (default bookworm)")
	cmd.Flags().StringVar(&mirror, "mirror", "", "debian: mirror URL (default: the host's apt sources)")
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the image (repeatable)")
	return cmd
}

func imageAliasCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alias", Short: "Manage image aliases"}
	cmd.AddCommand(&cobra.Command{
		Use:   "create ALIAS FINGERPRINT",
		Short: "Create an alias",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			return c.CreateImageAlias(cmd.Context(), args[0], args[1], "")
		},
	}, &cobra.Command{
		Use:     "delete ALIAS",
		Aliases: []string{"rm"},
		Short:   "Delete an alias",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			return c.DeleteImageAlias(cmd.Context(), args[0])
		},
	}, &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List aliases",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect()
			if err != nil {
				return err
			}
			as, err := c.GetImageAliases(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(as))
			for _, a := range as {
				rows = append(rows, []string{a.Name, shortFP(a.Target), a.Description})
			}
			return render(cmd.OutOrStdout(), "table", []string{"ALIAS", "FINGERPRINT", "DESCRIPTION"}, rows, as)
		},
	})
	return cmd
}
