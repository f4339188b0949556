package main

import (
	"context"
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
	"lodge/remotes/simplestreams"
)

// imageArg is an image argument split into its remote and the name on it.
type imageArg struct {
	remote string
	r      cliconfig.Remote
	ref    string
}

func (a imageArg) local() bool { return a.remote == "local" || a.r.Addr == "unix://" }

func parseImageArg(arg string) (imageArg, error) {
	if !strings.Contains(arg, ":") {
		// The CLI drives the local daemon: an image without a remote is its own.
		return imageArg{remote: "local", r: cliconfig.Remote{Addr: "unix://"}, ref: arg}, nil
	}
	c, err := loadConfig()
	if err != nil {
		return imageArg{}, err
	}
	name, ref, err := c.ParseRemote(arg)
	if err != nil {
		return imageArg{}, err
	}
	return imageArg{remote: name, r: c.Remotes[name], ref: ref}, nil
}

// instanceSource is what POST /1.0/instances gets for an image argument:
// for a remote image the daemon is told server, protocol and name, and
// downloads it itself, as LXD's does.
func (a imageArg) instanceSource(ctx context.Context) (api.InstanceSource, error) {
	if a.local() {
		return api.InstanceSource{Type: "image", Alias: a.ref}, nil
	}
	cert, err := a.serverCert()
	if err != nil {
		return api.InstanceSource{}, err
	}
	src := api.InstanceSource{Type: "image", Server: a.r.Addr, Protocol: protocolOf(a.r), Alias: a.ref, Certificate: cert}
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
	if protocolOf(a.r) != "lxd" || a.r.AuthType != "tls" {
		return "", "", nil
	}
	src, err := a.source()
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	im, err := src.Resolve(ctx, a.ref)
	if err != nil || im.Public {
		return "", "", err
	}
	c, err := loadConfig()
	if err != nil {
		return "", "", err
	}
	tcfg, err := clientTLS(c, a.remote)
	if err != nil {
		return "", "", err
	}
	cl, err := client.ConnectHTTPS(a.r.Addr, tcfg)
	if err != nil {
		return "", "", err
	}
	secret, err := cl.ImageSecret(ctx, im.Fingerprint)
	return im.Fingerprint, secret, err
}

func protocolOf(r cliconfig.Remote) string {
	if r.Protocol == "" {
		return "lxd"
	}
	return r.Protocol
}

// serverCert is the pinned certificate of an lxd-protocol remote, which the
// daemon uses to check the server it downloads from.
func (a imageArg) serverCert() (string, error) {
	if protocolOf(a.r) != "lxd" {
		return "", nil
	}
	c, err := loadConfig()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(c.ServerCertPath(a.remote))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// source opens a remote for reading on the client side (image list, info).
func (a imageArg) source() (remotes.Source, error) {
	switch protocolOf(a.r) {
	case "simplestreams":
		return simplestreams.New(a.r.Addr, simplestreams.Options{}), nil
	case "lxd":
		return lxdSource(a.remote, a.r)
	}
	return nil, fmt.Errorf("remote %s: protocol %q is not supported", a.remote, a.r.Protocol)
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

// remoteImageList handles `image list REMOTE: [FILTER...]` and filters on
// local listings; handled is false for a plain local list.
func remoteImageList(cmd *cobra.Command, args []string, format string) (bool, error) {
	a := imageArg{remote: "local", r: cliconfig.Remote{Addr: "unix://"}}
	filters := args
	if len(args) > 0 && strings.Contains(args[0], ":") {
		var err error
		if a, err = parseImageArg(args[0]); err != nil {
			return true, err
		}
		filters = args[1:]
		if a.ref != "" {
			filters = append([]string{a.ref}, filters...)
		}
	}
	if a.local() && len(filters) == 0 {
		return false, nil
	}
	header := []string{"ALIAS", "FINGERPRINT", "PUBLIC", "DESCRIPTION", "ARCHITECTURE", "TYPE", "SIZE", "UPLOAD DATE"}
	var rows [][]string
	if a.local() {
		c, err := connect()
		if err != nil {
			return true, err
		}
		ims, err := c.GetImages(cmd.Context())
		if err != nil {
			return true, err
		}
		var out []api.Image
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
		return true, render(cmd.OutOrStdout(), format, header, rows, out)
	}
	src, err := a.source()
	if err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	ims, err := src.List(ctx)
	if err != nil {
		return true, fmt.Errorf("%s: %w", a.remote, err)
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
	return true, render(cmd.OutOrStdout(), format, header, rows, out)
}

// remoteImageInfo handles `image info REMOTE:NAME` for a non-local remote.
func remoteImageInfo(cmd *cobra.Command, arg string) (bool, error) {
	if !strings.Contains(arg, ":") {
		return false, nil
	}
	a, err := parseImageArg(arg)
	if err != nil {
		return true, err
	}
	if a.local() {
		return false, nil
	}
	src, err := a.source()
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
		Use:   "copy REMOTE:IMAGE local:",
		Short: "Copy an image from a remote into the local image store",
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
			if !dst.local() {
				return fmt.Errorf("copying to remote %q is not supported: the target must be the local daemon (local:)", dst.remote)
			}
			if src.local() {
				return fmt.Errorf("the image is already local; use `lodge image alias create` for another name")
			}
			if src.ref == "" {
				return fmt.Errorf("name the image: %s:ALIAS or %s:FINGERPRINT", src.remote, src.remote)
			}
			cert, err := src.serverCert()
			if err != nil {
				return err
			}
			req := api.ImagesPost{ImagePut: api.ImagePut{AutoUpdate: autoUpdate, Public: public},
				Source: &api.ImagesPostSource{Type: "image", Mode: "pull", Server: src.r.Addr, Protocol: protocolOf(src.r), Alias: src.ref, Certificate: cert}}
			if fp, secret, err := src.privateSecret(cmd.Context()); err != nil {
				return fmt.Errorf("%s: %w", src.remote, err)
			} else if secret != "" {
				req.Source.Alias, req.Source.Fingerprint, req.Source.Secret = "", fp, secret
			}
			for _, a := range aliases {
				req.Aliases = append(req.Aliases, api.ImageAliasesPost{Name: a})
			}
			if copyAliases {
				req.Aliases = append(req.Aliases, api.ImageAliasesPost{Name: src.ref})
			}
			c, err := connect()
			if err != nil {
				return err
			}
			op, err := c.CopyImage(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("%s: %w", src.remote, err)
			}
			if err := waitWithProgress(cmd.Context(), op, cmd.ErrOrStderr(), "Copying image"); err != nil {
				return fmt.Errorf("%s: %w", src.remote, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Image copied successfully: %v\n", op.Op.Metadata["fingerprint"])
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "local alias for the copy (repeatable)")
	cmd.Flags().BoolVar(&autoUpdate, "auto-update", false, "keep the copy up to date with its remote")
	cmd.Flags().BoolVar(&public, "public", false, "make the copy public (served to untrusted clients)")
	cmd.Flags().BoolVar(&copyAliases, "copy-aliases", false, "also give the copy the name it had on the remote")
	return cmd
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
		Use:   "refresh IMAGE...",
		Short: "Fetch a newer build of images copied from a remote by alias",
		Args:  cobra.MinimumNArgs(1),
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
