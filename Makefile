# lodge — see README.md. Integration tests need root, liblxc and the Debian
# packages that scripts/setup-host installs.
GO ?= go
GOFLAGS ?=
export CGO_ENABLED = 1

.PHONY: build test test-unit test-fuzz test-integration test-stress-short bench bench-storage bench-remotes compat stress fuzz lint demo deps clean

build:
	$(GO) build $(GOFLAGS) -o bin/lodged ./cmd/lodged
	$(GO) build $(GOFLAGS) -o bin/lodge ./cmd/lodge

# Everything: lint, unit tests, a bounded fuzz run, the integration tests
# against real containers and a short stress run.
test: lint test-unit test-fuzz test-integration test-stress-short

test-unit:
	$(GO) test -race -count=1 ./...

# Every fuzz target for a few seconds; make fuzz runs them for minutes.
test-fuzz:
	FUZZTIME=$${FUZZTIME:-8s} ./scripts/fuzz.sh

fuzz:
	FUZZTIME=$${FUZZTIME:-5m} ./scripts/fuzz.sh

test-integration: build
	LODGE_INTEGRATION=1 $(GO) test -race -count=1 -timeout 25m -v ./test/arch/ ./test/integration/ ./instances/lxc/ ./builder/ ./storage/... ./network/... ./backup/

bench: build
	./bench/run.sh

# Snapshot/restore with 1 GiB of changes and the disk of 50 containers, per pool.
bench-storage: build
	./bench/storage.sh

# Download+import of a 200 MiB image from a loopback simplestreams server, next to curl.
bench-remotes: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -run TestBenchRemoteDownload -v ./test/integration/

# A short stress run in every test: 8 clients for 20 s, 10 SIGKILL rounds,
# the full disk. make stress is the long one.
test-stress-short: build
	LODGE_STRESS=1 STRESS_DURATION=20s STRESS_CLIENTS=8 CRASH_ROUNDS=10 $(GO) test -count=1 -v -timeout 15m ./test/stress/

# Load (32 clients, 5 minutes), 100 SIGKILL rounds, a full disk; bounded.
stress: build
	LODGE_STRESS=1 $(GO) test -count=1 -v -timeout 60m ./test/stress/

# Debian's lxc client drives a throw-away lodged through every feature.
compat: build
	./test/compat/run.sh

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

demo: build
	./scripts/demo.sh

deps:
	./scripts/setup-host.sh

clean:
	rm -rf bin
