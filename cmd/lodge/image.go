package main

import (
	"bytes"
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
	"gopkg.in/yaml.v3"

	"lodge/api"
	"lodge/builder"
	"lodge/client"
)

func imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	cmd.AddCommand(imageListCmd(), imageInfoCmd(), imageShowCmd(), imageEditCmd(), imageDeleteCmd(), imageImportCmd(), imageExportCmd(),
		imageBuildCmd(), imageAliasCmd(), imageCopyCmd(), imageRefreshCmd(), imageStreamsCmd())
	cmd.AddCommand(imagePropertyCmds()...)
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
			return imageList(cmd, args, format)
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
		Use:   "info [REMOTE:]IMAGE",
		Short: "Show an image (alias or fingerprint prefix), here or on a remote",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := parseImageArg(args[0])
			if err != nil {
				return err
			}
			if handled, err := remoteImageInfo(cmd, a); handled {
				return err
			}
			im, _, _, err := resolveImage(cmd.Context(), args[0])
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
		Use:     "delete [REMOTE:]IMAGE...",
		Aliases: []string{"rm"},
		Short:   "Delete images",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, err := newServers()
			if err != nil {
				return err
			}
			for _, arg := range args {
				ref, c, err := srv.resolve(arg)
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
func importFile(ctx context.Context, c *client.Client, path string, aliases []string, up client.ImageUpload) (string, error) {
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
	up.Filename = filepath.Base(path)
	op, err := c.CreateImage(ctx, r, up)
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

// importArgs sorts `image import` arguments: a trailing REMOTE: names the
// server, key=value pairs are properties, the rest are the files.
func importArgs(args []string) (files []string, remote string, props map[string]string, err error) {
	props = map[string]string{}
	for _, a := range args {
		switch {
		case strings.HasSuffix(a, ":") && !strings.Contains(a, "/"):
			if remote != "" {
				return nil, "", nil, fmt.Errorf("two servers named (%s and %s): import goes to one", remote, a)
			}
			remote = a
		case strings.Contains(a, "=") && !fileExists(a):
			k, v, _ := strings.Cut(a, "=")
			if k == "" {
				return nil, "", nil, fmt.Errorf("bad property %q: expected key=value", a)
			}
			props[k] = v
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 || len(files) > 2 {
		return nil, "", nil, fmt.Errorf("give a unified image tarball, or a metadata tarball and a rootfs (got %d files)", len(files))
	}
	return files, remote, props, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func imageImportCmd() *cobra.Command {
	var aliases []string
	var public bool
	cmd := &cobra.Command{
		Use:   "import TARBALL|METADATA ROOTFS [REMOTE:] [key=value...]",
		Short: "Import a unified image tarball, or a split image (metadata tarball and squashfs/tarball rootfs)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, remote, props, err := importArgs(args)
			if err != nil {
				return err
			}
			var c *client.Client
			if remote != "" {
				c, _, err = remoteClient([]string{remote})
			} else {
				c, err = connect()
			}
			if err != nil {
				return err
			}
			up := client.ImageUpload{Public: public, Properties: props}
			var fp string
			if len(files) == 2 {
				fp, err = importSplitFiles(cmd.Context(), c, files[0], files[1], aliases, up)
			} else {
				fp, err = importFile(cmd.Context(), c, files[0], aliases, up)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image imported with fingerprint: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the image (repeatable)")
	cmd.Flags().BoolVar(&public, "public", false, "make the image public: served to untrusted clients and listed by `lodge image streams`")
	return cmd
}

// resolveImage finds [REMOTE:]IMAGE (an alias or a fingerprint prefix) on
// its server and returns it with its ETag and that server.
func resolveImage(ctx context.Context, arg string) (api.Image, string, *client.Client, error) {
	ref, c, err := instanceClient(arg)
	if err != nil {
		return api.Image{}, "", nil, err
	}
	im, err := c.ResolveImage(ctx, ref)
	if err != nil {
		return api.Image{}, "", nil, err
	}
	im, etag, err := c.GetImageETag(ctx, im.Fingerprint)
	return im, etag, c, err
}

func imageExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export [REMOTE:]IMAGE [TARGET]",
		Short: "Write an image's tarball to a file",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, _, c, err := resolveImage(cmd.Context(), args[0])
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
	var release, mirror, variant string
	var packages []string
	var aliases []string
	var public bool
	cmd := &cobra.Command{
		Use:   "build busybox|debian [REMOTE:]",
		Short: "Build an image on this host and import it (debian: debootstrap from the host's apt mirror)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rest, err := remoteClient(args[1:])
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return fmt.Errorf("%q: expected REMOTE: (the server to import into)", rest[0])
			}
			path, err := builder.Build(cmd.Context(), args[0], builder.Options{Release: release, Mirror: mirror,
				Variant: variant, Packages: packages, Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			fp, err := importFile(cmd.Context(), c, path, aliases, client.ImageUpload{Public: public})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image imported with fingerprint: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringVar(&release, "release", "", "debian: the suite (default bookworm)")
	cmd.Flags().StringVar(&mirror, "mirror", "", "debian: mirror URL (default: the host's apt sources)")
	cmd.Flags().StringVar(&variant, "variant", "", "debian: default, or cloud (cloud-init, openssh-server and the hostname, hosts and cloud-init templates)")
	cmd.Flags().StringSliceVar(&packages, "packages", nil, "debian: extra Debian packages to install (a,b,c)")
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the image (repeatable)")
	cmd.Flags().BoolVar(&public, "public", false, "make the image public")
	return cmd
}

func imageAliasCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "alias", Short: "Manage image aliases"}
	cmd.AddCommand(&cobra.Command{
		Use:   "create [REMOTE:]ALIAS FINGERPRINT",
		Short: "Create an alias",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			alias, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			return c.CreateImageAlias(cmd.Context(), alias, args[1], "")
		},
	}, &cobra.Command{
		Use:     "delete [REMOTE:]ALIAS",
		Aliases: []string{"rm"},
		Short:   "Delete an alias",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alias, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			return c.DeleteImageAlias(cmd.Context(), alias)
		},
	}, &cobra.Command{
		Use:     "list [REMOTE:]",
		Aliases: []string{"ls"},
		Short:   "List aliases",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := remoteOnly(args)
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

func imageShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show [REMOTE:]IMAGE",
		Short: "Show an image as YAML",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, _, _, err := resolveImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeYAML(cmd.OutOrStdout(), im)
		},
	}
}

// updateImage reads the image, lets change edit what PUT takes and writes
// it back under the ETag.
func updateImage(cmd *cobra.Command, arg string, change func(*api.ImagePut) error) error {
	im, etag, c, err := resolveImage(cmd.Context(), arg)
	if err != nil {
		return err
	}
	if im.Properties == nil {
		im.Properties = map[string]string{}
	}
	if err := change(&im.ImagePut); err != nil {
		return err
	}
	return c.UpdateImage(cmd.Context(), im.Fingerprint, im.ImagePut, etag)
}

func imageEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit [REMOTE:]IMAGE",
		Short: "Edit an image's public flag, auto-update and properties as YAML in $EDITOR (or from stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, etag, c, err := resolveImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			text, err := yaml.Marshal(im.ImagePut)
			if err != nil {
				return err
			}
			return editYAML(cmd, text, func(b []byte) error {
				var put api.ImagePut
				dec := yaml.NewDecoder(bytes.NewReader(b))
				dec.KnownFields(true)
				if err := dec.Decode(&put); err != nil && err != io.EOF {
					return fmt.Errorf("YAML: %v", err)
				}
				if err := c.UpdateImage(cmd.Context(), im.Fingerprint, put, etag); err != nil {
					return err
				}
				_, etag, _ = c.GetImageETag(cmd.Context(), im.Fingerprint)
				return nil
			})
		},
	}
}

func imagePropertyCmds() []*cobra.Command {
	return []*cobra.Command{{
		Use:   "get-property [REMOTE:]IMAGE KEY",
		Short: "Print one image property",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			im, _, _, err := resolveImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v, ok := im.Properties[args[1]]
			if !ok {
				return fmt.Errorf("image %s has no property %q", args[0], args[1])
			}
			fmt.Fprintln(cmd.OutOrStdout(), v)
			return nil
		},
	}, {
		Use:   "set-property [REMOTE:]IMAGE KEY VALUE",
		Short: "Set an image property",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateImage(cmd, args[0], func(put *api.ImagePut) error {
				put.Properties[args[1]] = args[2]
				return nil
			})
		},
	}, {
		Use:   "unset-property [REMOTE:]IMAGE KEY",
		Short: "Remove an image property",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return updateImage(cmd, args[0], func(put *api.ImagePut) error {
				if _, ok := put.Properties[args[1]]; !ok {
					return fmt.Errorf("image %s has no property %q", args[0], args[1])
				}
				delete(put.Properties, args[1])
				return nil
			})
		},
	}}
}
