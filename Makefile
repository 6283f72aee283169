# Baton's build, test and demo entry points. `make help` lists them.

VERSION  ?= 1.0.0
# The newest protocol of the source (fsm.LatestProtocol; a test keeps them equal).
PROTOCOL ?= 3
OUT      ?= bin/baton
# A build speaks its own protocol and the one before it (S1: an upgraded node
# keeps speaking the old protocol until the cluster finalizes).
PROTOCOL_MIN := $(shell p=$(PROTOCOL); [ $$p -gt 1 ] && echo $$((p-1)) || echo 1)
PKG      := github.com/baton-upgrade/baton/internal/build
LDFLAGS  := -X $(PKG).Version=$(VERSION) -X $(PKG).ProtocolMin=$(PROTOCOL_MIN) -X $(PKG).ProtocolMax=$(PROTOCOL)
GO       ?= go
# make jepsen: the chaos suite (docs/jepsen.md). OUT= names its output
# directory here (out/jepsen unless given on the command line).
DURATION ?= 10m
NODES    ?= 5
NEMESES  ?= all
SEED     ?= 0
# make jepsen TLS=1: the agents run with TLS (docs/tls.md).
TLS      ?=
# make demo / cluster / demo-self: PORT_BASE= fixes the loopback ports (node
# N uses PORT_BASE+10*N and the next ones); unset, a free block is chosen.
export PORT_BASE
JEPSEN_OUT := $(if $(filter command line environment,$(origin OUT)),$(OUT),out/jepsen)

DIST     ?= dist

.PHONY: all baton demosvc dist docs test test-short fuzz vet fmt cluster demo demo-tls demo-self demo-fleet demo-redis demo-gateway bench help jepsen

all: baton

help:
	@echo "make baton      build bin/baton (VERSION=, PROTOCOL=, OUT= to stamp another build)"
	@echo "make demo       build, start a three-node cluster with a toy service, upgrade it 1.0.0 -> 2.0.0, kill the leader half-way"
	@echo "make demo-tls   the same demo with TLS: a throwaway CA and node certificates made with openssl, the CLI with --ca-cert"
	@echo "make demo-fleet three servers and 1,000 client agents (CLIENTS=, MAX_PARALLEL=), upgraded by id, the leader killed once"
	@echo "make demo-self  three agents of Baton 1.0.0 upgrade themselves to 2.0.0; the protocol switches at the end"
	@echo "make demo-redis a Redis primary and two replicas rolled secondaries-first under a writing client, Baton's"
	@echo "                leader killed once: the switch-over, the failed requests and zero lost writes (needs redis-server, jq)"
	@echo "make demo-gateway five toy services behind baton gateway under a client load: a ring upgrade with zero failed"
	@echo "                requests, then a by-id upgrade through a plain proxy (no failover) that shows the failures"
	@echo "make cluster    build and run a local three-node cluster on loopback (Ctrl-C stops it)"
	@echo "                (demo, demo-self and cluster take PORT_BASE=7000; unset, they pick free ports)"
	@echo "make test       go vet, then every test with the race detector (a 150 s chaos run included)"
	@echo "make jepsen     the chaos suite: DURATION=10m NODES=5 NEMESES=all SEED= OUT=out/jepsen TLS=1 (docs/jepsen.md)"
	@echo "make fuzz       run every fuzz target for FUZZTIME=30s each (make test runs only their corpora)"
	@echo "make fmt        gofmt the tree"
	@echo "make docs       regenerate the command reference (docs/cli.md, docs/baton.1) from the commands"
	@echo "make dist       static baton binaries for linux/amd64 and linux/arm64 in dist/, with SHA256SUMS (VERSION=, PROTOCOL=)"
	@echo "make bench      measure Baton against its limits (about 9 minutes; installs Debian's ansible if missing)"
	@echo "                and write docs/benchmarks.md and docs/benchmarks.json; never part of make test"

baton:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(OUT) ./cmd/baton

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

# Static binaries (no cgo) for the release platforms, stamped like `make
# baton`, and their checksums.
dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	for arch in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" \
			-o $(DIST)/baton-$(VERSION)-linux-$$arch ./cmd/baton || exit 1; \
	done
	cd $(DIST) && sha256sum baton-* > SHA256SUMS && cat SHA256SUMS

# The command reference is generated from the CLI's own definitions; a test
# fails when it is stale.
docs:
	$(GO) run ./cmd/baton docs markdown > docs/cli.md
	$(GO) run ./cmd/baton docs man > docs/baton.1

test: vet
	$(GO) test -race -count=1 -timeout 9m ./...

# Every fuzz target of FUZZ_PKGS (found with go test -list), one after
# the other for FUZZTIME each. A crasher is written to the package's
# testdata/fuzz/<target>/ and fails the run: commit it as a seed with the
# fix. make test runs every seed as a unit test. A run that fails without
# writing a crasher is Go's fuzzing coordinator racing its own -fuzztime
# deadline (go.dev/issue/75804, "context deadline exceeded"; fixed in Go
# 1.27): it is reported and skipped.
FUZZTIME  ?= 30s
FUZZ_PKGS ?= ./fsm ./rpc ./rpc/nodeauth
fuzz:
	@for pkg in $(FUZZ_PKGS); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			corpus=$$pkg/testdata/fuzz/$$target; \
			before=$$(ls $$corpus 2>/dev/null | wc -l); \
			if ! $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; then \
				if [ "$$(ls $$corpus 2>/dev/null | wc -l)" != "$$before" ]; then \
					echo "fuzz: $$target found a crasher: see $$corpus"; exit 1; \
				fi; \
				echo "fuzz: $$target failed without a crasher (go.dev/issue/75804): not counted"; \
			fi; \
		done; \
	done

test-short: vet
	$(GO) test -race -short -count=1 ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

cluster: baton
	scripts/cluster.sh $(OUT)

demosvc:
	$(GO) build -o bin/demosvc ./cmd/demosvc

demo: baton demosvc
	scripts/demo.sh bin

# The demo with TLS: openssl makes a throwaway CA and the node certificates.
demo-tls: baton demosvc
	scripts/demo-tls.sh bin

# Five toy services behind `baton gateway` (docs/gateway.md): RATE= sets the
# client load in requests a second (200).
demo-gateway: baton demosvc
	scripts/demo-gateway.sh bin

# The Redis example (examples/redis): needs redis-server, redis-cli and jq.
demo-redis: baton
	$(GO) build -o bin/redis-demo-client ./examples/redis/client
	examples/redis/demo.sh bin

# Client agents (docs/clients.md): three servers and a fleet of CLIENTS
# (1000) client agents in one process, the leader killed once.
demo-fleet: baton
	$(GO) build -o bin/batonfleet ./cmd/batonfleet
	scripts/demo-fleet.sh bin

demo-self:
	$(MAKE) baton VERSION=1.0.0 PROTOCOL=1 OUT=bin/baton-1.0.0
	$(MAKE) baton VERSION=2.0.0 PROTOCOL=2 OUT=bin/baton-2.0.0
	scripts/demo-self.sh bin/baton-1.0.0 bin/baton-2.0.0

jepsen:
	$(GO) build -o bin/batonjepsen ./jepsen/cmd/batonjepsen
	bin/batonjepsen -duration $(DURATION) -nodes $(NODES) -nemeses $(NEMESES) -seed $(SEED) -out $(JEPSEN_OUT) $(if $(filter 1 true yes,$(TLS)),-tls)

# The Go benchmarks of the hot paths run first; batonbench then measures the
# limits, real clusters, handoffs, crash recovery, a 10,000-member state and
# Ansible, and writes the report with the Go benchmarks in it.
bench:
	@tmp=$$(mktemp -d) && \
	echo "go test -run '^$$' -bench . -benchmem -count 5 -benchtime 300ms ./fsm ./coordinator" && \
	$(GO) test -run '^$$' -bench . -benchmem -count 5 -benchtime 300ms -timeout 5m ./fsm ./coordinator > $$tmp/gobench.txt; \
	status=$$?; cat $$tmp/gobench.txt; \
	if [ $$status -eq 0 ]; then BATONBENCH_VIA_MAKE=1 $(GO) run ./cmd/batonbench -gobench $$tmp/gobench.txt; status=$$?; fi; \
	rm -rf $$tmp; exit $$status
