package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"lodge/builder"
	"lodge/client"
	"lodge/remotes"
	"lodge/remotes/simplestreams"
)

// imageStreamsCmd writes the public local images as a static simplestreams
// tree that any web server can serve (lodge remote add NAME URL --protocol simplestreams).
func imageStreamsCmd() *cobra.Command {
	var all, split bool
	cmd := &cobra.Command{
		Use:   "streams [REMOTE:] DIR",
		Short: "Write the public images as a simplestreams tree in DIR, for any static web server",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, args, err := remoteClient(args)
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return fmt.Errorf("give the directory to write the tree to")
			}
			ims, err := c.GetImages(cmd.Context())
			if err != nil {
				return err
			}
			work, err := os.MkdirTemp("", "lodge-streams-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			tree := simplestreams.NewTree(args[0])
			n := 0
			for _, im := range ims {
				if !im.Public && !all {
					continue
				}
				var aliases []string
				for _, a := range im.Aliases {
					aliases = append(aliases, a.Name)
				}
				p := im.Properties
				osName, rel := p["os"], p["release"]
				if osName == "" {
					osName = "unknown"
				}
				if rel == "" {
					rel = "1"
				}
				if len(aliases) == 0 {
					aliases = []string{strings.ToLower(osName) + "/" + rel}
				}
				variant := p["variant"]
				if variant == "" {
					variant = "default"
				}
				info := simplestreams.ProductInfo{OS: osName, Release: rel, Variant: variant,
					Arch: remotes.DebianArchitecture(im.Architecture), Aliases: aliases}
				serial := im.CreatedAt.UTC().Format("20060102_15:04")
				ct, body, err := c.ExportImageRaw(cmd.Context(), im.Fingerprint)
				if err != nil {
					return err
				}
				files, err := saveExport(work, im.Fingerprint, ct, body)
				body.Close()
				if err != nil {
					return fmt.Errorf("image %s: %w", shortFP(im.Fingerprint), err)
				}
				var fp string
				converted := false
				switch {
				case len(files) == 2:
					fp, err = tree.AddSplit(info, serial, files[0], files[1], rootfsFType(files[1]))
				case split:
					// Published as image servers do: metadata + squashfs, a
					// new fingerprint over both.
					var meta, sq string
					meta, sq, err = builder.SplitUnified(cmd.Context(), files[0], work, im.Fingerprint)
					if err == nil {
						os.Remove(files[0])
						fp, err = tree.AddSplit(info, serial, meta, sq, "squashfs")
						converted = true
					}
				default:
					fp, err = tree.AddUnified(info, serial, files[0])
				}
				if err != nil {
					return fmt.Errorf("image %s: %w", shortFP(im.Fingerprint), err)
				}
				if converted {
					fmt.Fprintf(cmd.ErrOrStderr(), "Image %s published split (lxd.tar.xz + squashfs) as %s\n", shortFP(im.Fingerprint), shortFP(fp))
				} else if fp != im.Fingerprint {
					return fmt.Errorf("image %s: the exported files hash to %s", im.Fingerprint, fp)
				}
				n++
			}
			if err := tree.Write(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %d image(s) to %s (serve it over https, or http: the SHA-256 sums in it are always checked)\n", n, args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include private images too")
	cmd.Flags().BoolVar(&split, "split", false, "publish unified images split, as image servers do: lxd.tar.xz + squashfs (needs root and mksquashfs)")
	return cmd
}

// saveExport writes an export into files: one tarball, or the metadata and
// rootfs parts of a split image.
func saveExport(dir, fp, ct string, body io.Reader) ([]string, error) {
	save := func(name string, r io.Reader) (string, error) {
		path := filepath.Join(dir, fp+"."+name)
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return "", err
		}
		return path, f.Close()
	}
	mt, params, _ := mime.ParseMediaType(ct)
	if !strings.HasPrefix(mt, "multipart/") {
		p, err := save("tar", body)
		return []string{p}, err
	}
	mr := multipart.NewReader(body, params["boundary"])
	var out []string
	for _, want := range []string{"metadata", "rootfs"} {
		part, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("export: %s part: %w", want, err)
		}
		if name := part.FormName(); name != want && !(want == "rootfs" && name == "rootfs.img") {
			return nil, fmt.Errorf("export: expected a %s part, got %q", want, name)
		}
		p, err := save(want, part)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// rootfsFType tells squashfs from a rootfs tarball by its magic.
func rootfsFType(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "squashfs"
	}
	defer f.Close()
	b := make([]byte, 4)
	io.ReadFull(f, b)
	if string(b) == "hsqs" {
		return "squashfs"
	}
	return "root.tar.xz"
}

// exportSplit writes a split image as TARGET (metadata) and TARGET.squashfs
// (or .rootfs); it returns nil, nil for a unified image.
func exportSplit(ctx context.Context, c *client.Client, fp, target string) ([]string, error) {
	ct, body, err := c.ExportImageRaw(ctx, fp)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if mt, _, _ := mime.ParseMediaType(ct); !strings.HasPrefix(mt, "multipart/") {
		return nil, nil
	}
	dir, err := os.MkdirTemp(filepath.Dir(target), ".export-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files, err := saveExport(dir, fp, ct, body)
	if err != nil {
		return nil, err
	}
	ext := ".squashfs"
	if rootfsFType(files[1]) != "squashfs" {
		ext = ".rootfs.tar"
	}
	out := []string{target, target + ext}
	for i := range files {
		if err := os.Rename(files[i], out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// importSplitFiles uploads a split image and points the aliases at it.
func importSplitFiles(ctx context.Context, c *client.Client, metaPath, rootPath string, aliases []string, up client.ImageUpload) (string, error) {
	meta, err := os.Open(metaPath)
	if err != nil {
		return "", err
	}
	defer meta.Close()
	root, err := os.Open(rootPath)
	if err != nil {
		return "", err
	}
	defer root.Close()
	h := sha256.New()
	op, err := c.CreateImageSplit(ctx, io.TeeReader(meta, h), io.TeeReader(root, h), filepath.Base(metaPath), filepath.Base(rootPath), up)
	var se *client.StatusError
	switch {
	case err == nil:
		if err := op.Wait(ctx); err != nil {
			return "", err
		}
	case errors.As(err, &se) && se.Code == 409:
		// Already there: hash what was not read to name it.
		meta.Seek(0, io.SeekStart)
		root.Seek(0, io.SeekStart)
		h.Reset()
		io.Copy(h, meta)
		io.Copy(h, root)
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
