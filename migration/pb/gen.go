// Package pb holds the generated Go types of LXD's migration control
// messages (migrate.proto).
package pb

//go:generate sh -c "go build -o $DOLLAR{TMPDIR:-/tmp}/lodge-protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go && protoc --plugin=protoc-gen-go=$DOLLAR{TMPDIR:-/tmp}/lodge-protoc-gen-go --go_out=. --go_opt=paths=source_relative migrate.proto"
