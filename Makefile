# lodge — see README.md. Integration tests need root, liblxc and the Debian
# packages that scripts/setup-host installs.
GO ?= go
GOFLAGS ?=
export CGO_ENABLED = 1

.PHONY: build test test-unit test-integration bench bench-remotes lint demo deps clean

build:
	$(GO) build $(GOFLAGS) -o bin/lodged ./cmd/lodged
	$(GO) build $(GOFLAGS) -o bin/lodge ./cmd/lodge

# Everything: unit tests, then the integration tests against real containers.
test: test-unit test-integration

test-unit:
	$(GO) test -race -count=1 ./...

test-integration: build
	LODGE_INTEGRATION=1 $(GO) test -race -count=1 -timeout 25m -v ./test/integration/ ./instances/lxc/ ./builder/

bench: build
	./bench/run.sh

# Download+import of a 200 MiB image from a loopback simplestreams server, next to curl.
bench-remotes: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -run TestBenchRemoteDownload -v ./test/integration/

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

demo: build
	./scripts/demo.sh

deps:
	./scripts/setup-host.sh

clean:
	rm -rf bin
