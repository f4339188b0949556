package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"lodge/api"
	"lodge/client"
)

// backupExt is the file extension of a backup compressed with algo.
func backupExt(algo string) string {
	switch algo {
	case "", "gzip":
		return ".tar.gz"
	case "bzip2":
		return ".tar.bz2"
	case "xz":
		return ".tar.xz"
	case "zstd":
		return ".tar.zst"
	case "lzma":
		return ".tar.lzma"
	}
	return ".tar"
}

// barFor draws a byte progress bar on a terminal (stderr), or nothing.
func barFor(size int64, desc string) *progressbar.ProgressBar {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil
	}
	if size <= 0 {
		size = -1
	}
	return progressbar.DefaultBytes(size, desc)
}

func exportCmd() *cobra.Command {
	var instanceOnly, optimized bool
	var compression string
	cmd := &cobra.Command{
		Use:   "export [REMOTE:]INSTANCE [FILE]",
		Short: "Write an instance (and its snapshots) to a backup tarball, in LXD's format",
		Long: `Write an instance, with its snapshots unless --instance-only, to a backup
tarball in LXD's layout: lodge import and LXD's lxc import read it.
--optimized-storage writes btrfs send streams (btrfs pools only; faster,
but only a btrfs pool imports it). FILE defaults to INSTANCE.tar.gz (or
the extension of --compression).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, c, err := instanceClient(args[0])
			if err != nil {
				return err
			}
			target := name + backupExt(compression)
			if len(args) == 2 {
				target = args[1]
			}
			ctx := cmd.Context()
			// As lxc export: the backup expires in a day if this command
			// dies before it deletes it.
			op, err := c.CreateInstanceBackup(ctx, name, api.InstanceBackupsPost{ExpiresAt: time.Now().Add(24 * time.Hour),
				InstanceOnly: instanceOnly, ContainerOnly: instanceOnly, OptimizedStorage: optimized, CompressionAlgorithm: compression})
			if err != nil {
				return err
			}
			if err := op.Wait(ctx); err != nil {
				return err
			}
			urls := op.Op.Resources["backups"]
			if len(urls) != 1 {
				return fmt.Errorf("the server's backup operation names no backup (resources %v)", op.Op.Resources)
			}
			backup := path.Base(urls[0])
			defer func() {
				if op, err := c.DeleteInstanceBackup(context.WithoutCancel(ctx), name, backup); err == nil {
					_ = op.Wait(context.WithoutCancel(ctx))
				}
			}()
			return downloadBackup(ctx, c, name, backup, target, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&instanceOnly, "instance-only", false, "leave the snapshots out")
	cmd.Flags().BoolVar(&optimized, "optimized-storage", false, "btrfs send streams instead of files (btrfs pools)")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip, bzip2, xz, zstd, lzma or none (default: the server's backups.compression_algorithm)")
	return cmd
}

// downloadBackup writes a backup's tarball to target, through a temporary
// file beside it, so that a failed download leaves no partial file.
func downloadBackup(ctx context.Context, c *client.Client, inst, backup, target string, out io.Writer) error {
	body, size, err := c.GetInstanceBackupFile(ctx, inst, backup)
	if err != nil {
		return err
	}
	defer body.Close()
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+"-")
	if err != nil {
		return err
	}
	var w io.Writer = f
	if bar := barFor(size, "Exporting backup"); bar != nil {
		defer bar.Close()
		w = io.MultiWriter(f, bar)
	}
	_, err = io.Copy(w, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), target)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("export %s to %s: %w", inst, target, err)
	}
	fmt.Fprintf(out, "Backup exported to %s\n", target)
	return nil
}

func importCmd() *cobra.Command {
	var pool string
	cmd := &cobra.Command{
		Use:   "import [REMOTE:] FILE [NAME]",
		Short: "Make an instance from a backup tarball (lodge export or LXD's lxc export)",
		Args:  cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, args, err := remoteClient(args)
			if err != nil {
				return err
			}
			if len(args) == 0 || len(args) > 2 {
				return fmt.Errorf("give the backup file and, optionally, a name for the instance")
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			var r io.Reader = f
			if bar := barFor(fi.Size(), "Importing backup"); bar != nil {
				defer bar.Close()
				r = io.TeeReader(f, bar)
			}
			op, err := c.CreateInstanceFromBackup(cmd.Context(), r, name, pool)
			if err != nil {
				return err
			}
			return op.Wait(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&pool, "storage", "s", "", "storage pool for the instance (default: the backup's, if it exists here, else the default profile's)")
	return cmd
}
