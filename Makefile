# lodge — see README.md. Integration tests need root, liblxc and the Debian
# packages that scripts/setup-host installs.
GO ?= go
GOFLAGS ?=
export CGO_ENABLED = 1
# Clustering links go-dqlite, whose libdqlite uses Debian's libsqlite3;
# the libsqlite3 tag builds mattn/go-sqlite3 against that same library
# instead of its bundled copy, so one SQLite serves both (without it the
# bundled copy's symbols would stand in for the system's under libdqlite,
# a combination upstream does not test). Exported, so that every go
# command make runs (build, test, vet, staticcheck, the tests' own builds
# of lodged) builds the same; test/buildtags has it for tests run by hand.
override GOFLAGS := -tags=libsqlite3 $(GOFLAGS)
export GOFLAGS

.PHONY: build build-release deb install test test-unit test-ui test-fuzz test-integration test-stress-short bench bench-storage bench-density bench-remotes bench-migrate bench-cluster bench-ui bench-cloud compat stress fuzz lint demo deps ui ui-deps ui-check clean

# The one version: version/VERSION (embedded in the binaries), unless
# given on the command line (make deb VERSION=0.2.0+rc1: a test's newer
# build); the environment's VERSION is ignored.
VERSION := $(shell cat version/VERSION)
LDFLAGS = -X lodge/version.Override=$(VERSION)
PREFIX ?= /usr/local
DESTDIR ?=
DEB_DIR ?= .
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

build:
	$(GO) build $(GOFLAGS) -ldflags "$(LDFLAGS)" -o bin/lodged ./cmd/lodged
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -ldflags "$(LDFLAGS)" -o bin/lodge ./cmd/lodge

# The package's binaries: PIE (hardened, as lintian asks), without symbol
# tables or build paths. PIE compiles every package again, apart from make
# build's cache: about 2.5 minutes cold on 2 cores, seconds after.
build-release:
	$(GO) build $(GOFLAGS) -trimpath -buildmode=pie -ldflags "-s -w $(LDFLAGS)" -o build/release/lodged ./cmd/lodged
	# The CLI keeps cgo here: a PIE without it is static-pie, which lintian
	# refuses (shared-library-lacks-prerequisites).
	$(GO) build $(GOFLAGS) -trimpath -buildmode=pie -ldflags "-s -w $(LDFLAGS)" -o build/release/lodge ./cmd/lodge

# lodge_$(VERSION)_amd64.deb in $(DEB_DIR): binaries, systemd units, man
# pages and bash/zsh/fish completions, maintainer scripts (packaging/).
deb: build-release
	./scripts/mkdeb.sh $(VERSION) build/release $(DEB_DIR)

# A source install: PREFIX/bin, man pages, completions, and the units in
# PREFIX/lib/systemd/system (systemd reads /usr/local/lib/systemd/system).
install: build
	./scripts/install.sh bin "$(DESTDIR)" $(PREFIX) $(PREFIX)/lib/systemd/system
	@echo "installed under $(DESTDIR)$(PREFIX). lodged.service uses the group lodge for its socket:"
	@echo "  addgroup --system lodge; systemctl daemon-reload; systemctl enable --now lodged lodge-containers"

# Everything: lint, unit tests, a bounded fuzz run, the integration tests
# against real containers and a short stress run.
test: lint test-unit test-ui ui-check test-fuzz test-integration test-stress-short

test-unit:
	$(GO) test -race -count=1 ./...

# The web UI's own unit tests (node's test runner; no npm packages needed).
test-ui:
	cd ui/web && node --test src/

# The web UI: ui/dist (committed, embedded in lodged by go:embed, so a Go
# build needs no npm) rebuilt from ui/web/src with the pinned esbuild;
# content-hashed names, and a check of the 500 KB compressed budget.
ui: ui-deps test-ui
	cd ui/web && npm run build

# ui/dist is what ui/web/src builds to (a source change without make ui fails).
ui-check:
	@out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	(cd ui/web && UI_OUT="$$out" node build.mjs >/dev/null) && \
	diff -r "$$out" ui/dist >/dev/null || { echo "ui/dist is not what ui/web builds: run make ui and commit ui/dist"; exit 1; }

# The UI's toolchain (esbuild, preact, htm, xterm, js-yaml) from
# ui/web/package-lock.json.
ui-deps:
	cd ui/web && npm ci --no-audit --no-fund

# Every fuzz target for a few seconds; make fuzz runs them for minutes.
test-fuzz:
	FUZZTIME=$${FUZZTIME:-8s} ./scripts/fuzz.sh

fuzz:
	FUZZTIME=$${FUZZTIME:-5m} ./scripts/fuzz.sh

test-integration: build
	LODGE_INTEGRATION=1 $(GO) test -race -count=1 -timeout 25m -v ./test/arch/ ./test/integration/ ./instances/lxc/ ./builder/ ./storage/... ./network/... ./migration/... ./backup/

bench: build bench-ui bench-cloud
	./bench/run.sh

# First paint and time-to-interactive of the web UI's instance list with 10
# and 1,000 instances, and requests per lifecycle event (headless Chromium).
bench-ui: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -timeout 30m -run TestBenchUI -v ./test/integration/

# Launch of the cloud image until `cloud-init status: done`, lodge and LXD
# 5.0.2 with the same image in one run (issue 15); N (5) launches a row.
bench-cloud: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -timeout 60m -run TestBenchCloudInit -v ./test/integration/

# Snapshot/restore with 1 GiB of changes and the disk of 50 containers, per pool.
bench-storage: build
	./bench/storage.sh

# N (1,000) Debian systemd containers on one host, lodge and LXD 5.0.2 side
# by side (issue 24); N=40 STEP=10 for a quick check. See bench/README.md.
bench-density: build
	./bench/density.sh

# Download+import of a 200 MiB image from a loopback simplestreams server, next to curl.
bench-remotes: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -run TestBenchRemoteDownload -v ./test/integration/

# Copy of a stopped Debian instance with 1 GiB between two lodgeds (pull, push),
# next to rsync -a of the same tree to an rsync daemon on loopback (the floor)
# and to lxc copy from Debian's LXD 5.0.2 (issue 16).
bench-migrate: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -timeout 30m -run TestBenchMigrate -v ./test/integration/

# lodge list from one member of a three-member cluster with 3 x 300 running
# instances next to 900 on a standalone lodged; kill -9 of a member to
# OFFLINE; kill -9 of the database leader to the next accepted write
# (issue 17). BENCH_PER_MEMBER=20 for a quick check.
bench-cluster: build
	LODGE_BENCH=1 LODGE_INTEGRATION=1 $(GO) test -count=1 -timeout 60m -run TestBenchCluster -v ./test/integration/

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
	$(MAKE) ui-deps

clean:
	rm -rf bin build
