package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// Bounds on what ExtractMetadata writes: the templates of real images are
// a few KiB.
const (
	maxMetadataYAML   = 1 << 20
	maxTemplateFile   = 1 << 20
	maxTemplatesTotal = 16 << 20
	maxTemplateFiles  = 1000
)

// ExtractMetadata copies metadata.yaml and the templates/ tree of an image
// file (a unified tarball, or the metadata tarball of a split image: both
// live at Store.Path) into dst, which it creates. This is what an instance
// keeps of its image beside its rootfs, for the template renderer. Only
// regular files are written (links, devices and the rootfs are skipped),
// each below dst, within size bounds.
func ExtractMetadata(ctx context.Context, imagePath, dst string) error {
	f, err := os.Open(imagePath)
	if err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	defer f.Close()
	dr, closeFn, err := decompress(ctxReader{ctx, f})
	if err != nil {
		return fmt.Errorf("image metadata %s: unreadable compression: %v: %w", imagePath, err, ErrInvalid)
	}
	defer closeFn()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(dr)
	var total int64
	files, haveMeta := 0, false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("image metadata %s: %v: %w", imagePath, err, ErrInvalid)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		isMeta := name == "metadata.yaml"
		isTemplate := strings.HasPrefix(name, "templates/") && name != "templates/"
		if !isMeta && !isTemplate {
			continue
		}
		if escapes(name) {
			return fmt.Errorf("image metadata: entry %q escapes the image directory: %w", hdr.Name, ErrInvalid)
		}
		if hdr.Typeflag != tar.TypeReg {
			// Directories are made as needed; links are never followed nor made.
			continue
		}
		limit := int64(maxTemplateFile)
		if isMeta {
			limit = maxMetadataYAML
		}
		files++
		total += hdr.Size
		switch {
		case hdr.Size > limit:
			return fmt.Errorf("image metadata: %s is %d bytes, over the %d allowed: %w", name, hdr.Size, limit, ErrInvalid)
		case total > maxTemplatesTotal || files > maxTemplateFiles:
			return fmt.Errorf("image metadata: templates over %d files or %d MiB: %w", maxTemplateFiles, maxTemplatesTotal>>20, ErrInvalid)
		}
		clean := path.Clean(name)
		if dir := path.Dir(clean); dir != "." {
			if err := root.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("image metadata: %s: %w", name, err)
			}
		}
		out, err := root.OpenFile(clean, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		_, err = io.Copy(out, io.LimitReader(tr, hdr.Size))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		haveMeta = haveMeta || isMeta
	}
	if !haveMeta {
		return fmt.Errorf("image metadata %s: no metadata.yaml: %w", imagePath, ErrInvalid)
	}
	return nil
}

// HasMetadata reports whether dir holds an extracted metadata.yaml.
func HasMetadata(dir string) bool {
	fi, err := os.Lstat(path.Join(dir, "metadata.yaml"))
	return err == nil && fi.Mode().IsRegular()
}

// CopyMetadata copies metadata.yaml and the templates/ tree kept in src
// (by ExtractMetadata, or an earlier CopyMetadata) into dst, which must
// exist: what an instance made from another volume (an overlay clone, a
// copy of an instance) keeps of its image. Only regular files are copied,
// within ExtractMetadata's bounds; nothing in src is followed out of it.
// A src without metadata.yaml copies nothing and is not an error.
func CopyMetadata(src, dst string) error {
	if !HasMetadata(src) {
		return nil
	}
	from, err := os.OpenRoot(src)
	if err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	defer from.Close()
	to, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	defer to.Close()
	var total int64
	files := 0
	copyFile := func(name string, limit int64) error {
		in, err := from.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		defer in.Close()
		fi, err := in.Stat()
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		files++
		total += fi.Size()
		if fi.Size() > limit || total > maxTemplatesTotal || files > maxTemplateFiles {
			return fmt.Errorf("image metadata: %s: over the size bounds of image templates: %w", name, ErrInvalid)
		}
		if dir := path.Dir(name); dir != "." {
			if err := to.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("image metadata: %s: %w", name, err)
			}
		}
		out, err := to.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		_, err = io.Copy(out, io.LimitReader(in, limit))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("image metadata: %s: %w", name, err)
		}
		return nil
	}
	if err := copyFile("metadata.yaml", maxMetadataYAML); err != nil {
		return err
	}
	err = fs.WalkDir(from.FS(), "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == "templates" {
				return fs.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			return copyFile(p, maxTemplateFile)
		}
		return nil // directories are walked (not followed if links); links and devices are skipped
	})
	if err != nil {
		return fmt.Errorf("image metadata: %w", err)
	}
	return nil
}

// RemoveMetadata removes metadata.yaml and templates/ from dir (an
// instance's, before its image changes); it never follows a link.
func RemoveMetadata(dir string) error {
	for _, name := range []string{"metadata.yaml", "templates"} {
		if err := os.RemoveAll(path.Join(dir, name)); err != nil {
			return fmt.Errorf("image metadata: %w", err)
		}
	}
	return nil
}
