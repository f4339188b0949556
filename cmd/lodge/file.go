package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pkg/sftp"

	"github.com/spf13/cobra"

	"lodge/client"
)

func fileCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "file", Short: "Manage files in instances"}
	cmd.AddCommand(filePushCmd(), filePullCmd(), fileDeleteCmd(), fileCreateCmd(), fileEditCmd(), fileMountCmd())
	return cmd
}

// splitTarget parses "[REMOTE:]c01/etc/hosts" into instance and absolute
// path, and connects to the server it names.
func splitTarget(arg string) (string, string, *client.Client, error) {
	ref, err := parseRef(arg)
	if err != nil {
		return "", "", nil, err
	}
	name, p, ok := strings.Cut(ref.Name, "/")
	if !ok || name == "" {
		return "", "", nil, fmt.Errorf("%q: expected [REMOTE:]INSTANCE/PATH, e.g. c01/etc/hosts", arg)
	}
	c, err := connectTo(ref.Remote)
	return name, "/" + p, c, err
}

type pushOpts struct {
	recursive, parents bool
	uid, gid           int
	mode               string
}

func filePushCmd() *cobra.Command {
	o := &pushOpts{}
	cmd := &cobra.Command{
		Use:   "push SOURCE... INSTANCE/PATH",
		Short: "Copy local files into an instance (a path ending in / is a directory)",
		Args:  cobra.MinimumNArgs(2),
		RunE:  func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "r", false, "push directories recursively")
	cmd.Flags().BoolVarP(&o.parents, "create-dirs", "p", false, "create missing parent directories")
	cmd.Flags().IntVar(&o.uid, "uid", -1, "owner uid inside the instance")
	cmd.Flags().IntVar(&o.gid, "gid", -1, "owner gid inside the instance")
	cmd.Flags().StringVar(&o.mode, "mode", "", "octal mode (default: the local file's)")
	return cmd
}

func parseMode(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	var m uint32
	if _, err := fmt.Sscanf(s, "%o", &m); err != nil || m > 0o7777 {
		return 0, fmt.Errorf("--mode %q is not an octal mode such as 0644", s)
	}
	return m, nil
}

func (o *pushOpts) run(cmd *cobra.Command, args []string) error {
	mode, err := parseMode(o.mode)
	if err != nil {
		return err
	}
	name, dst, c, err := splitTarget(args[len(args)-1])
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	srcs := args[:len(args)-1]
	toDir := strings.HasSuffix(args[len(args)-1], "/") || len(srcs) > 1 || o.recursive
	// A recursive push creates its destination directory, as cp -r would.
	if o.parents || o.recursive {
		dir := dst
		if !toDir {
			dir = path.Dir(dst)
		}
		if err := mkdirAll(ctx, c, name, dir, o.uid, o.gid); err != nil {
			return err
		}
	}
	for _, src := range srcs {
		target := dst
		if toDir {
			target = path.Join(dst, filepath.Base(src))
		}
		if src == "-" {
			if err := c.PushFile(ctx, name, target, client.FileArgs{Content: os.Stdin, UID: o.uid, GID: o.gid, Mode: mode}); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Lstat(src)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			if !o.recursive {
				return fmt.Errorf("%s is a directory: use -r to push it", src)
			}
			if err := pushTree(ctx, c, name, src, target, o); err != nil {
				return err
			}
			continue
		}
		if err := pushOne(ctx, c, name, src, target, fi, o.uid, o.gid, mode); err != nil {
			return err
		}
	}
	return nil
}

func mkdirAll(ctx context.Context, c *client.Client, name, dir string, uid, gid int) error {
	cur := ""
	for _, part := range strings.Split(path.Clean(dir), "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		if _, info, err := c.GetFile(ctx, name, cur); err == nil && info.Type == "directory" {
			continue
		}
		if err := c.PushFile(ctx, name, cur, client.FileArgs{Type: "directory", UID: uid, GID: gid}); err != nil {
			return err
		}
	}
	return nil
}

func pushOne(ctx context.Context, c *client.Client, name, src, target string, fi os.FileInfo, uid, gid int, mode uint32) error {
	if mode == 0 {
		mode = uint32(fi.Mode().Perm())
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		link, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return c.PushFile(ctx, name, target, client.FileArgs{Type: "symlink", Content: strings.NewReader(link), UID: uid, GID: gid})
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: only regular files, directories and symlinks can be pushed", src)
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.PushFile(ctx, name, target, client.FileArgs{Content: f, UID: uid, GID: gid, Mode: mode, Size: fi.Size()})
}

// pushTree sends a local tree over one SFTP stream, directories first and
// files by several workers; against a server without SFTP it falls back to
// one request per entry, as lxc does.
func pushTree(ctx context.Context, c *client.Client, name, src, target string, o *pushOpts) error {
	sc, err := c.SFTP(ctx, name)
	if err != nil {
		return pushTreeREST(ctx, c, name, src, target, o)
	}
	defer sc.Close()
	type job struct {
		local, remote string
		fi            os.FileInfo
	}
	jobs := make(chan job)
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := sftpPutFile(sc, j.local, j.remote, j.fi, o); err != nil {
					fail(err)
				}
			}
		}()
	}
	walkErr := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		select {
		case err := <-errc:
			return err
		default:
		}
		rel, _ := filepath.Rel(src, p)
		dst := path.Join(target, filepath.ToSlash(rel))
		switch {
		case fi.IsDir():
			if err := sc.MkdirAll(dst); err != nil {
				return fmt.Errorf("%s/%s: %w", name, dst, err)
			}
			return sftpOwner(sc, dst, uint32(fi.Mode().Perm()), o)
		case fi.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = sc.Remove(dst)
			return sc.Symlink(link, dst)
		case fi.Mode().IsRegular():
			jobs <- job{p, dst, fi}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if walkErr != nil {
		return walkErr
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

func sftpOwner(sc *sftp.Client, p string, mode uint32, o *pushOpts) error {
	if o.uid >= 0 || o.gid >= 0 {
		uid, gid := o.uid, o.gid
		if uid < 0 {
			uid = 0
		}
		if gid < 0 {
			gid = 0
		}
		if err := sc.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("%s: chown: %w", p, err)
		}
	}
	if err := sc.Chmod(p, os.FileMode(mode)); err != nil {
		return fmt.Errorf("%s: chmod: %w", p, err)
	}
	return nil
}

func sftpPutFile(sc *sftp.Client, local, remote string, fi os.FileInfo, o *pushOpts) error {
	in, err := os.Open(local)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := sc.OpenFile(remote, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", remote, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("%s: %w", remote, err)
	}
	return sftpOwner(sc, remote, uint32(fi.Mode().Perm()), o)
}

// pushTreeREST walks a local tree, directories first, one request per entry.
func pushTreeREST(ctx context.Context, c *client.Client, name, src, target string, o *pushOpts) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := path.Join(target, filepath.ToSlash(rel))
		if fi.IsDir() {
			return c.PushFile(ctx, name, dst, client.FileArgs{Type: "directory", UID: o.uid, GID: o.gid, Mode: uint32(fi.Mode().Perm())})
		}
		return pushOne(ctx, c, name, p, dst, fi, o.uid, o.gid, 0)
	})
}

func filePullCmd() *cobra.Command {
	var recursive, parents bool
	cmd := &cobra.Command{
		Use:   "pull INSTANCE/PATH... TARGET",
		Short: "Copy files out of an instance (TARGET - writes a file to stdout)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst := args[len(args)-1]
			srcs := args[:len(args)-1]
			if parents && dst != "-" {
				if err := os.MkdirAll(dst, 0o755); err != nil {
					return err
				}
			}
			for _, s := range srcs {
				name, p, c, err := splitTarget(s)
				if err != nil {
					return err
				}
				target := dst
				if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
					target = filepath.Join(dst, path.Base(p))
				}
				if err := pull(cmd.Context(), c, name, p, target, recursive, cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "pull directories recursively")
	cmd.Flags().BoolVarP(&parents, "create-dirs", "p", false, "create the local target directory")
	return cmd
}

func pull(ctx context.Context, c *client.Client, name, p, target string, recursive bool, stdout io.Writer) error {
	body, info, err := c.GetFile(ctx, name, p)
	if err != nil {
		return err
	}
	switch info.Type {
	case "directory":
		if !recursive {
			return fmt.Errorf("%s/%s is a directory: use -r to pull it", name, strings.TrimPrefix(p, "/"))
		}
		if err := os.MkdirAll(target, os.FileMode(info.Mode&0o777|0o700)); err != nil {
			return err
		}
		for _, e := range info.Entries {
			if err := pull(ctx, c, name, path.Join(p, e), filepath.Join(target, e), true, stdout); err != nil {
				return err
			}
		}
		return nil
	case "symlink":
		defer body.Close()
		link, err := io.ReadAll(io.LimitReader(body, 4096))
		if err != nil {
			return err
		}
		if target == "-" {
			_, err := fmt.Fprintln(stdout, string(link))
			return err
		}
		os.Remove(target)
		return os.Symlink(string(link), target)
	}
	defer body.Close()
	if target == "-" {
		_, err := io.Copy(stdout, body)
		return err
	}
	tmp := target + ".lodge-part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(info.Mode&0o7777))
	if err != nil {
		return err
	}
	sw := &sparseWriter{f: f}
	if _, err := io.CopyBuffer(sw, body, make([]byte, 1<<20)); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("pull %s: %w", p, err)
	}
	if err := sw.Finish(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("pull %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, target)
}

func fileDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete INSTANCE/PATH...",
		Aliases: []string{"rm"},
		Short:   "Delete files, symlinks or empty directories in an instance",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				name, p, c, err := splitTarget(a)
				if err != nil {
					return err
				}
				if err := c.DeleteFile(cmd.Context(), name, p); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func fileCreateCmd() *cobra.Command {
	var typ, mode string
	var uid, gid int
	cmd := &cobra.Command{
		Use:   "create INSTANCE/PATH [SYMLINK-TARGET]",
		Short: "Create an empty file, a directory or a symlink in an instance",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, p, c, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			fa := client.FileArgs{Type: typ, UID: uid, GID: gid, Mode: m}
			switch typ {
			case "file", "directory":
				if len(args) == 2 {
					return fmt.Errorf("a symlink target only goes with --type symlink")
				}
			case "symlink":
				if len(args) != 2 {
					return fmt.Errorf("--type symlink needs a target: lodge file create c01/path TARGET --type symlink")
				}
				fa.Content = strings.NewReader(args[1])
			default:
				return fmt.Errorf("--type %q: use file, directory or symlink", typ)
			}
			return c.PushFile(cmd.Context(), name, p, fa)
		},
	}
	cmd.Flags().StringVar(&typ, "type", "file", "file, directory or symlink")
	cmd.Flags().StringVar(&mode, "mode", "", "octal mode")
	cmd.Flags().IntVar(&uid, "uid", -1, "owner uid")
	cmd.Flags().IntVar(&gid, "gid", -1, "owner gid")
	return cmd
}

func fileEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit INSTANCE/PATH",
		Short: "Edit a file of an instance in $EDITOR; written back only if changed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, p, c, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			body, info, err := c.GetFile(ctx, name, p)
			if err != nil {
				return err
			}
			if info.Type != "file" {
				if body != nil {
					body.Close()
				}
				return fmt.Errorf("%s is a %s, not a file", args[0], info.Type)
			}
			old, err := io.ReadAll(body)
			body.Close()
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp("", "lodge-edit-*-"+path.Base(p))
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			tmp.Write(old)
			tmp.Close()
			editor := os.Getenv("VISUAL")
			if editor == "" {
				editor = os.Getenv("EDITOR")
			}
			if editor == "" {
				editor = "vi"
			}
			ed := exec.Command("sh", "-c", editor+` "$1"`, "editor", tmp.Name())
			ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := ed.Run(); err != nil {
				return fmt.Errorf("editor %q: %w (file left unchanged)", editor, err)
			}
			edited, err := os.ReadFile(tmp.Name())
			if err != nil {
				return err
			}
			if bytes.Equal(edited, old) {
				return nil
			}
			return c.PushFile(ctx, name, p, client.FileArgs{Content: bytes.NewReader(edited), UID: info.UID, GID: info.GID, Mode: info.Mode})
		},
	}
}

func fileMountCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mount INSTANCE/PATH LOCAL-DIR",
		Short: "Mount an instance's directory locally over SFTP with sshfs (until Ctrl-C or fusermount -u)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, p, c, err := splitTarget(args[0])
			if err != nil {
				return err
			}
			sshfs, err := exec.LookPath("sshfs")
			if err != nil {
				return fmt.Errorf("lodge file mount needs sshfs (apt-get install sshfs)")
			}
			if fi, err := os.Stat(args[1]); err != nil || !fi.IsDir() {
				return fmt.Errorf("%s: not a directory to mount on", args[1])
			}
			conn, err := c.SFTPConn(cmd.Context(), name)
			if err != nil {
				return err
			}
			defer conn.Close()
			fc, ok := conn.(interface{ File() (*os.File, error) })
			if !ok {
				return fmt.Errorf("sftp stream cannot be handed to sshfs")
			}
			f, err := fc.File()
			if err != nil {
				return err
			}
			defer f.Close()
			// sshfs speaks SFTP over its stdin and stdout in passive mode.
			sh := exec.CommandContext(cmd.Context(), sshfs, "-o", "passive", "-f", ":"+p, args[1])
			sh.Stdin, sh.Stdout, sh.Stderr = f, f, os.Stderr
			if err := sh.Run(); err != nil {
				return fmt.Errorf("sshfs: %w", err)
			}
			return nil
		},
	}
}
