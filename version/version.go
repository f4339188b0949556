// Package version holds lodge's version: the one source for `lodge
// --version`, `lodged --version`, the API's server version and the Debian
// package (make deb reads version/VERSION).
package version

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var file string

// Override replaces the release version for a build that is not one, set
// at link time: go build -ldflags "-X lodge/version.Override=0.2.0+dev1"
// (make build VERSION=...). Empty for a release build.
var Override string

// String is the version this binary reports.
func String() string {
	if Override != "" {
		return Override
	}
	return strings.TrimSpace(file)
}
