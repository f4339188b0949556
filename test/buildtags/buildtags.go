// Package buildtags is the build tags lodged is built with, for tests
// that build it themselves (make exports the same in GOFLAGS): libsqlite3
// makes mattn/go-sqlite3 use Debian's libsqlite3, the one go-dqlite's
// libdqlite links, instead of its bundled copy.
package buildtags

// Tags is the value of go build's -tags.
const Tags = "libsqlite3"
