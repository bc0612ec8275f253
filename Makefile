# Mosaic's vocabulary: make run, make test, make bench, make lint.
GO        ?= go
BIN       ?= bin
DATA      ?= ./mosaic-data
PKGS      := ./...
INTEROP   := e2e/interop
DEPLOY    := deploy

.PHONY: explorer-screenshots all build install run test test-short readme bench lint fuzz clean demo soak tools litewitness bench-tools bench-load bench-frontends image

all: build

## build: every command into $(BIN) (mosaicd, mosaic, mosaic-load)
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## install: mosaicd and mosaic into $(go env GOBIN), or $(go env GOPATH)/bin when GOBIN is unset
install:
	$(GO) install ./cmd/mosaicd ./cmd/mosaic

## run: serve on the embedded store in $(DATA) (a key is created on first start)
run: build
	$(BIN)/mosaicd serve --storage file:$(DATA)

## tools: the outside programs the tests drive, built once per version into $(TOOLS) (outside the clone)
TOOLS             ?= $(HOME)/.cache/mosaic-tools
TORCHWOOD_VERSION := v0.6.1
COSIGN_VERSION    := v3.1.3
HELM_VERSION      := v4.3.2
PROMTOOL_VERSION  := v0.316.0
SEAWEEDFS_VERSION := v0.0.0-20261109003541-7506e5f91cd6
tools: $(TOOLS)/torchwood-$(TORCHWOOD_VERSION)/litewitness $(TOOLS)/cosign-$(COSIGN_VERSION)/cosign \
	$(TOOLS)/helm-$(HELM_VERSION)/helm $(TOOLS)/promtool-$(PROMTOOL_VERSION)/promtool \
	$(TOOLS)/seaweedfs-$(SEAWEEDFS_VERSION)/weed

## litewitness: only litewitness and witnessctl (what the README's Witnesses section runs)
litewitness: $(TOOLS)/torchwood-$(TORCHWOOD_VERSION)/litewitness

$(TOOLS)/torchwood-$(TORCHWOOD_VERSION)/litewitness:
	@echo "tools: building litewitness and witnessctl $(TORCHWOOD_VERSION) into $(@D) (once)"
	GOBIN=$(@D) $(GO) install filippo.io/torchwood/cmd/litewitness@$(TORCHWOOD_VERSION) filippo.io/torchwood/cmd/witnessctl@$(TORCHWOOD_VERSION)

$(TOOLS)/cosign-$(COSIGN_VERSION)/cosign:
	@echo "tools: building cosign $(COSIGN_VERSION) into $(@D) (once; takes minutes)"
	GOBIN=$(@D) $(GO) install github.com/sigstore/cosign/v3/cmd/cosign@$(COSIGN_VERSION)

$(TOOLS)/helm-$(HELM_VERSION)/helm:
	@echo "tools: building helm $(HELM_VERSION) into $(@D) (once; takes minutes)"
	GOBIN=$(@D) $(GO) install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

$(TOOLS)/promtool-$(PROMTOOL_VERSION)/promtool:
	@echo "tools: building promtool $(PROMTOOL_VERSION) into $(@D) (once; takes minutes)"
	GOBIN=$(@D) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# SeaweedFS's go.mod has replace directives, so go install refuses it: build weed in a writable copy of the
# module (the S3 object store of internal/s3test and the --tiles s3:// tests).
$(TOOLS)/seaweedfs-$(SEAWEEDFS_VERSION)/weed:
	@echo "tools: building SeaweedFS weed $(SEAWEEDFS_VERSION) into $(@D) (once; takes many minutes)"
	@set -e; src=$$($(GO) mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -n "$$src"; mkdir -p $(@D); rm -rf $(@D)/src; cp -r "$$src" $(@D)/src; chmod -R u+w $(@D)/src; \
	  cd $(@D)/src && $(GO) build -o $(@D)/weed.tmp ./weed; mv $(@D)/weed.tmp $(@D)/weed; rm -rf $(@D)/src

## bench-tools: rekor-tiles' POSIX server, the comparison of make bench-load, built once into $(TOOLS) (not part of make tools: CI runs no load benchmark)
REKOR_TILES_VERSION := v2.3.0
REKOR_SERVER        := $(TOOLS)/rekor-tiles-$(REKOR_TILES_VERSION)/rekor-server-posix
bench-tools: $(REKOR_SERVER)

$(REKOR_SERVER):
	@echo "bench-tools: building rekor-tiles $(REKOR_TILES_VERSION)'s POSIX server into $(@D) (once)"
	GOBIN=$(@D) $(GO) install github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix@$(REKOR_TILES_VERSION)
	mv $(@D)/posix $@

## bench-load: not part of make test. The write ladder (64, 1,024, 4,096 clients, 15 s each) against mosaicd on the
## embedded store, on a fresh PostgreSQL database (MOSAIC_TEST_DATABASE_URL's server) and rekor-tiles (tuned), then
## the reads against a 1,000,000-entry log per store (filled once, kept in ~/.cache/mosaic-bench); writes
## docs/bench/bench-load.json and the generated section of docs/benchmarks.md. BENCH_FLAGS adds flags
## (mosaic-load bench --help), e.g. make bench-load BENCH_FLAGS='--duration 3s --clients 64 --read-size 100000'
BENCH_FLAGS ?=
bench-load: bench-tools
	$(GO) build -o $(BIN)/ ./cmd/mosaicd ./cmd/mosaic-load
	$(BIN)/mosaic-load bench --mosaicd $(BIN)/mosaicd --rekor $(REKOR_SERVER) $(BENCH_FLAGS)

## bench-frontends: not part of make test. 1, 2 and 3 mosaicd frontends on one fresh PostgreSQL database and one
## SeaweedFS bucket (weed from make tools): 1,024 clients' writes spread over them for 15 s, reads of tiles and
## bundles, an audit; prints the table of docs/benchmarks.md "Several frontends". FRONTENDS, CLIENTS, DURATION
## override (docs/bench/frontends.sh says how).
bench-frontends: $(TOOLS)/seaweedfs-$(SEAWEEDFS_VERSION)/weed
	MOSAIC_WEED_BIN=$(TOOLS)/seaweedfs-$(SEAWEEDFS_VERSION)/weed docs/bench/frontends.sh

## test: every test, PostgreSQL included (set MOSAIC_TEST_DATABASE_URL to point elsewhere)
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)
	cd $(INTEROP) && $(GO) vet ./... && $(GO) test -count=1 -timeout 10m ./...
	cd $(DEPLOY) && $(GO) vet ./... && $(GO) test -count=1 -timeout 15m ./...

## explorer-screenshots: run the explorer's browser test (headless chromium) and keep its screenshots in docs/explorer
explorer-screenshots:
	MOSAIC_EXPLORER_SCREENSHOTS=$(CURDIR)/docs/explorer $(GO) test -count=1 -run 'TestExplorerInBrowser/posix' ./e2e/

## image: the mosaicd OCI image, built without a daemon and reproducibly (deploy/image), into $(BIN)/mosaicd-image.tar
## (docker load, podman load, skopeo copy docker-archive:); SOURCE_DATE_EPOCH defaults to the commit time
IMAGE_TAG ?= mosaicd:dev
image:
	mkdir -p $(BIN)
	cd $(DEPLOY) && $(GO) run ./image --source .. --tag $(IMAGE_TAG) --out $(abspath $(BIN))/mosaicd-image.tar

## demo: the keyless flow end to end (CA + TSA + log + dev OIDC issuer, sigstore-go signs and verifies)
demo:
	BIN=$(BIN) bash e2e/demo.sh

## readme: run the README's sh blocks in order in a copy of the tree (part of make test; see e2e/readme_test.go)
readme:
	$(GO) test -count=1 -timeout 20m -run '^TestReadme$$' -v ./e2e/

test-short:
	$(GO) test -short -count=1 $(PKGS)

## bench: Go benchmarks (figures go to docs/benchmarks.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## soak: not part of make test. Fresh mosaicd per store (posix, then a fresh PostgreSQL database on
## MOSAIC_TEST_DATABASE_URL's server), SOAK_DURATION of valid adds + resubmissions, malformed, slow and
## never-reading clients, then the log read back; prints a Markdown table, exits 1 if an acknowledged entry
## was lost, a proof failed or a malformed request got a 5xx. SOAK_FLAGS adds flags (mosaic-load soak --help),
## e.g. make soak SOAK_DURATION=60s SOAK_FLAGS='--stores posix --output json'
SOAK_DURATION ?= 90s
SOAK_FLAGS    ?=
soak:
	$(GO) build -o $(BIN)/ ./cmd/mosaicd ./cmd/mosaic-load
	$(BIN)/mosaic-load soak --mosaicd $(BIN)/mosaicd --duration $(SOAK_DURATION) $(SOAK_FLAGS)

## fuzz: run every fuzz target (found with go test -list) for FUZZTIME each
FUZZTIME ?= 30s
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg; \
	  done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	cd $(INTEROP) && $(GO) vet ./...
	cd $(DEPLOY) && $(GO) vet ./...
	@# No dependency may need a Go newer than the one pinned in go.mod.
	@want=$$(awk '/^go /{print $$2}' go.mod); \
	$(GO) list -m -f '{{if .GoVersion}}{{.Path}} {{.GoVersion}}{{end}}' all | while read -r mod v; do \
	  if [ "$$(printf '%s\n%s\n' "$$v" "$$want" | sort -V | tail -1)" != "$$want" ]; then echo "$$mod needs go $$v > $$want"; exit 1; fi; \
	done

clean:
	rm -rf $(BIN)
