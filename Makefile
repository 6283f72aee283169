# Baton's build, test and demo entry points. `make help` lists them.

VERSION  ?= 1.0.0
PROTOCOL ?= 1
OUT      ?= bin/baton
# A build speaks its own protocol and the one before it (S1: an upgraded node
# keeps speaking the old protocol until the cluster finalizes).
PROTOCOL_MIN := $(shell p=$(PROTOCOL); [ $$p -gt 1 ] && echo $$((p-1)) || echo 1)
PKG      := github.com/baton-upgrade/baton/internal/build
LDFLAGS  := -X $(PKG).Version=$(VERSION) -X $(PKG).ProtocolMin=$(PROTOCOL_MIN) -X $(PKG).ProtocolMax=$(PROTOCOL)
GO       ?= go

.PHONY: all baton demosvc test test-short vet fmt cluster demo demo-self help

all: baton

help:
	@echo "make baton      build bin/baton (VERSION=, PROTOCOL=, OUT= to stamp another build)"
	@echo "make demo       build, start a three-node cluster with a toy service, upgrade it 1.0.0 -> 2.0.0, kill the leader half-way"
	@echo "make demo-self  three agents of Baton 1.0.0 upgrade themselves to 2.0.0; the protocol switches at the end"
	@echo "make cluster    build and run a local three-node cluster on loopback (Ctrl-C stops it)"
	@echo "make test       go vet, then every test with the race detector"
	@echo "make fmt        gofmt the tree"

baton:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(OUT) ./cmd/baton

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

test: vet
	$(GO) test -race -count=1 -timeout 9m ./...

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

demo-self:
	$(MAKE) baton VERSION=1.0.0 PROTOCOL=1 OUT=bin/baton-1.0.0
	$(MAKE) baton VERSION=2.0.0 PROTOCOL=2 OUT=bin/baton-2.0.0
	scripts/demo-self.sh bin/baton-1.0.0 bin/baton-2.0.0
