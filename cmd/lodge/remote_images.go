package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"lodge/api"
	"lodge/client"
	"lodge/client/cliconfig"
	"lodge/remotes"
)

// imageArg is an image argument split into its remote and the name on it.
type imageArg struct {
	cfg    *cliconfig.Config
	remote string
	r      cliconfig.Remote
	ref    string
}

func (a imageArg) local() bool { return a.r.IsLocal() }

// parseImageArg splits [remote:]image; without a prefix the image is on
// the default remote, as with lxc.
func parseImageArg(arg string) (imageArg, error) {
	c, err := loadConfig()
	if err != nil {
		return imageArg{}, err
	}
	ref, err := c.ParseRef(arg)
	if err != nil {
		return imageArg{}, err
	}
	return imageArg{cfg: c, remote: ref.Remote, r: c.Remotes[ref.Remote], ref: ref.Name}, nil
}

// instanceSource is what POST /1.0/instances on the server of remote
// target (connected as tc) gets for this image: the alias when the image
// is on that same server; for an image on another server, that server's
// address, protocol and the name, and the daemon downloads it itself, as
// LXD's does. An image on this host's lodged, which has no address the
// target could download from, is first relayed through this client.
func (a imageArg) instanceSource(ctx context.Context, target string, tc *client.Client) (api.InstanceSource, error) {
	if a.remote == target {
		return api.InstanceSource{Type: "image", Alias: a.ref}, nil
	}
	if a.local() {
		fp, err := relayImage(ctx, a, tc, client.ImageUpload{})
		if err != nil {
			return api.InstanceSource{}, fmt.Errorf("image %s:%s to %s:: %w", a.remote, a.ref, target, err)
		}
		return api.InstanceSource{Type: "image", Fingerprint: fp}, nil
	}
	cert, err := a.cfg.ServerCert(a.remote)
	if err != nil {
		return api.InstanceSource{}, err
	}
	src := api.InstanceSource{Type: "image", Server: a.r.Addr, Protocol: a.r.ProtocolName(), Alias: a.ref, Certificate: cert}
	fp, secret, err := a.privateSecret(ctx)
	if err != nil {
		return src, err
	}
	if secret != "" {
		src.Alias, src.Fingerprint, src.Secret = "", fp, secret
	}
	return src, nil
}

// privateSecret: for a private image on an lxd remote that trusts this
// client (but maybe not the daemon), the image's fingerprint and a
// one-time secret for the daemon to fetch it with, as lxc does.
func (a imageArg) privateSecret(ctx context.Context) (string, string, error) {
	if a.r.ProtocolName() != "lxd" || a.r.AuthType != "tls" {
		return "", "", nil
	}
	src, err := a.cfg.ImageSource(a.remote)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	im, err := src.Resolve(ctx, a.ref)
	if err != nil || im.Public {
		return "", "", err
	}
	cl, err := a.cfg.Connect(a.remote)
	if err != nil {
		return "", "", err
	}
	secret, err := cl.ImageSecret(ctx, im.Fingerprint)
	return im.Fingerprint, secret, err
}

// matchImage applies `image list` filters: key=value on properties (and
// architecture), otherwise a prefix of an alias or the fingerprint.
func matchImage(fp, arch string, aliases []string, props map[string]string, filters []string) bool {
	for _, f := range filters {
		if k, v, ok := strings.Cut(f, "="); ok {
			got := props[k]
			if k == "architecture" || k == "arch" {
				got = arch
				if remotes.ArchitectureName(v) == arch {
					continue
				}
			}
			if !strings.EqualFold(got, v) {
				return false
			}
			continue
		}
		hit := strings.HasPrefix(fp, strings.ToLower(f))
		for _, a := range aliases {
			hit = hit || strings.HasPrefix(a, f)
		}
		if !hit {
			return false
		}
	}
	return true
}

// viaAPI tells whether the image commands read this remote through the
// lodged/LXD API (the local daemon or a remote that trusts this client)
// rather than as an image server.
func (a imageArg) viaAPI() bool {
	return a.local() || a.r.ProtocolName() == "lxd" && a.r.AuthType == "tls"
}

// imageList is `image list [REMOTE:] [FILTER...]`.
func imageList(cmd *cobra.Command, args []string, format string) error {
	a, err := parseImageArg("")
	if err != nil {
		return err
	}
	filters := args
	if len(args) > 0 && strings.Contains(args[0], ":") {
		if a, err = parseImageArg(args[0]); err != nil {
			return err
		}
		filters = args[1:]
		if a.ref != "" {
			filters = append([]string{a.ref}, filters...)
		}
	}
	header := []string{"ALIAS", "FINGERPRINT", "PUBLIC", "DESCRIPTION", "ARCHITECTURE", "TYPE", "SIZE", "UPLOAD DATE"}
	var rows [][]string
	if a.viaAPI() {
		c, err := a.cfg.Connect(a.remote)
		if err != nil {
			return err
		}
		ims, err := c.GetImages(cmd.Context())
		if err != nil {
			return err
		}
		out := []api.Image{}
		for _, im := range ims {
			var aliases []string
			for _, x := range im.Aliases {
				aliases = append(aliases, x.Name)
			}
			if !matchImage(im.Fingerprint, im.Architecture, aliases, im.Properties, filters) {
				continue
			}
			out = append(out, im)
			rows = append(rows, []string{strings.Join(aliases, "\n"), shortFP(im.Fingerprint), yesNo(im.Public), im.Properties["description"],
				im.Architecture, "CONTAINER", humanBytes(im.Size), im.UploadedAt.UTC().Format("Jan 2, 2006 at 3:04pm (MST)")})
		}
		return render(cmd.OutOrStdout(), format, header, rows, out)
	}
	src, err := a.cfg.ImageSource(a.remote)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	ims, err := src.List(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", a.remote, err)
	}
	var out []remotes.Image
	for _, im := range ims {
		if !matchImage(im.Fingerprint, im.Architecture, im.Aliases, im.Properties, filters) {
			continue
		}
		out = append(out, im)
		aliases := append([]string{}, im.Aliases...)
		sort.Strings(aliases)
		// Short aliases first, as lxc shows them.
		sort.SliceStable(aliases, func(i, j int) bool { return strings.Count(aliases[i], "/") < strings.Count(aliases[j], "/") })
		if len(aliases) > 3 {
			aliases = append(aliases[:3], fmt.Sprintf("(%d more)", len(aliases)-3))
		}
		rows = append(rows, []string{strings.Join(aliases, "\n"), shortFP(im.Fingerprint), yesNo(im.Public), im.Properties["description"],
			im.Architecture, "CONTAINER", humanBytes(im.Size()), im.CreatedAt.UTC().Format("Jan 2, 2006 at 3:04pm (MST)")})
	}
	return render(cmd.OutOrStdout(), format, header, rows, out)
}

// remoteImageInfo handles `image info REMOTE:NAME` for an image server or
// a remote that does not trust this client; handled is false otherwise.
func remoteImageInfo(cmd *cobra.Command, a imageArg) (bool, error) {
	if a.viaAPI() {
		return false, nil
	}
	src, err := a.cfg.ImageSource(a.remote)
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	im, err := src.Resolve(ctx, a.ref)
	if err != nil {
		return true, fmt.Errorf("%s: %w", a.remote, err)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Fingerprint: %s\nSize: %s\nArchitecture: %s\nType: container\nPublic: %s\n", im.Fingerprint, humanBytes(im.Size()), im.Architecture, yesNo(im.Public))
	fmt.Fprintf(w, "Timestamps:\n    Created: %s\n", im.CreatedAt.UTC().Format(time.RFC1123))
	if !im.ExpiresAt.IsZero() {
		fmt.Fprintf(w, "    Expires: %s\n", im.ExpiresAt.UTC().Format(time.RFC1123))
	}
	fmt.Fprintf(w, "Properties:\n")
	for _, k := range sortedKeys(im.Properties) {
		fmt.Fprintf(w, "    %s: %s\n", k, im.Properties[k])
	}
	fmt.Fprintf(w, "Aliases:\n")
	for _, x := range im.Aliases {
		fmt.Fprintf(w, "    - %s\n", x)
	}
	fmt.Fprintf(w, "Files:\n")
	for _, f := range im.Files {
		fmt.Fprintf(w, "    - %s: %s (%s, sha256 %s)\n", f.Role, f.Path, humanBytes(f.Size), f.SHA256)
	}
	return true, nil
}

func imageCopyCmd() *cobra.Command {
	var aliases []string
	var autoUpdate, public, copyAliases bool
	cmd := &cobra.Command{
		Use:   "copy [REMOTE:]IMAGE REMOTE:",
		Short: "Copy an image from one server to another (from an image server, another lodged/LXD, or this host to a remote)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseImageArg(args[0])
			if err != nil {
				return err
			}
			dst, err := parseImageArg(args[1])
			if err != nil {
				return err
			}
			if dst.ref != "" {
				return fmt.Errorf("%q: the target is a server (REMOTE:); name the copy with --alias", args[1])
			}
			if dst.r.ProtocolName() != "lxd" {
				return fmt.Errorf("remote %q is an image server (%s): images cannot be copied to it", dst.remote, dst.r.Protocol)
			}
			if src.remote == dst.remote {
				return fmt.Errorf("the image is already on %s:; use `lodge image alias create` for another name", dst.remote)
			}
			if src.ref == "" {
				return fmt.Errorf("name the image: %s:ALIAS or %s:FINGERPRINT", src.remote, src.remote)
			}
			c, err := dst.cfg.Connect(dst.remote)
			if err != nil {
				return err
			}
			var fp string
			if src.local() {
				// This host's lodged has no address the target could pull
				// from: the image goes through this client.
				if fp, err = relayImage(cmd.Context(), src, c, client.ImageUpload{Public: public}); err != nil {
					return err
				}
			} else if fp, err = pullImage(cmd, src, c, api.ImagePut{AutoUpdate: autoUpdate, Public: public}); err != nil {
				return err
			}
			names := aliases
			if copyAliases {
				names = append(names, src.ref)
			}
			for _, a := range names {
				if err := setAlias(cmd.Context(), c, a, fp); err != nil {
					return fmt.Errorf("%s: alias %s: %w", dst.remote, a, err)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image copied successfully: %s\n", fp)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "alias for the copy on the target (repeatable)")
	cmd.Flags().BoolVar(&autoUpdate, "auto-update", false, "keep the copy up to date with its remote")
	cmd.Flags().BoolVar(&public, "public", false, "make the copy public (served to untrusted clients)")
	cmd.Flags().BoolVar(&copyAliases, "copy-aliases", false, "also give the copy the name it had on the source")
	return cmd
}

// pullImage has the target server download the image itself (POST
// /1.0/images with a pull source), as LXD's client does.
func pullImage(cmd *cobra.Command, src imageArg, c *client.Client, put api.ImagePut) (string, error) {
	cert, err := src.cfg.ServerCert(src.remote)
	if err != nil {
		return "", err
	}
	req := api.ImagesPost{ImagePut: put,
		Source: &api.ImagesPostSource{Type: "image", Mode: "pull", Server: src.r.Addr, Protocol: src.r.ProtocolName(), Alias: src.ref, Certificate: cert}}
	if fp, secret, err := src.privateSecret(cmd.Context()); err != nil {
		return "", fmt.Errorf("%s: %w", src.remote, err)
	} else if secret != "" {
		req.Source.Alias, req.Source.Fingerprint, req.Source.Secret = "", fp, secret
	}
	op, err := c.CopyImage(cmd.Context(), req)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.remote, err)
	}
	if err := waitWithProgress(cmd.Context(), op, cmd.ErrOrStderr(), "Copying image"); err != nil {
		return "", fmt.Errorf("%s: %w", src.remote, err)
	}
	fp, _ := op.Op.Metadata["fingerprint"].(string)
	return fp, nil
}

// relayImage streams an image from the source server's export into an
// upload to c: one pass, nothing on this client's disk.
func relayImage(ctx context.Context, src imageArg, c *client.Client, up client.ImageUpload) (string, error) {
	from, err := src.cfg.Connect(src.remote)
	if err != nil {
		return "", err
	}
	im, err := from.ResolveImage(ctx, src.ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", src.remote, err)
	}
	ct, body, err := from.ExportImageRaw(ctx, im.Fingerprint)
	if err != nil {
		return "", fmt.Errorf("%s: export %s: %w", src.remote, shortFP(im.Fingerprint), err)
	}
	defer body.Close()
	up.Filename = im.Filename
	op, err := c.CreateImageExport(ctx, ct, body, up)
	var se *client.StatusError
	switch {
	case errors.As(err, &se) && se.Code == 409:
		// The target has it already: the aliases still follow.
		return im.Fingerprint, nil
	case err != nil:
		return "", err
	}
	if err := op.Wait(ctx); err != nil {
		return "", err
	}
	return im.Fingerprint, nil
}

// progress turns operation metadata (LXD's "progress": stage, percent,
// processed, total, speed) into a progress bar with percent, bytes, rate
// and ETA.
type progress struct {
	w    io.Writer
	desc string
	bar  *progressbar.ProgressBar
}

func (p *progress) update(op api.Operation) {
	pm, ok := op.Metadata["progress"].(map[string]any)
	if !ok || pm["stage"] != "download" {
		return
	}
	num := func(k string) int64 {
		s, _ := pm[k].(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	total, done := num("total"), num("processed")
	if p.bar == nil {
		if total <= 0 {
			total = -1
		}
		p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(p.desc),
			progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(p.w) }))
	}
	_ = p.bar.Set64(done)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// waitWithProgress waits for op, drawing a download bar on a terminal.
func waitWithProgress(ctx context.Context, op *client.Operation, w io.Writer, desc string) error {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return op.Wait(ctx)
	}
	p := &progress{w: w, desc: desc}
	err := op.WaitProgress(ctx, p.update)
	if err == nil {
		p.finish()
	}
	return err
}

func imageRefreshCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "refresh [REMOTE:]IMAGE...",
		Short: "Fetch a newer build of images copied from a remote by alias",
		Args:  cobra.MinimumNArgs(1),
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
				op, err := c.RefreshImage(cmd.Context(), im.Fingerprint)
				if err != nil {
					return err
				}
				if err := waitWithProgress(cmd.Context(), op, cmd.ErrOrStderr(), "Refreshing image"); err != nil {
					return err
				}
				if op.Op.Metadata["refreshed"] == true {
					fmt.Fprintf(cmd.OutOrStdout(), "Image %s refreshed: now %v\n", arg, op.Op.Metadata["fingerprint"])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "Image %s is up to date\n", arg)
				}
			}
			return nil
		},
	}
}
