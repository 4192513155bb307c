# Hookstream — build, run, test, bench, tools.
SHELL := /bin/bash
GO ?= go
BIN := bin/hookstream
PKGS := ./...
export GOFLAGS := -buildvcs=false

.PHONY: all build run test test-race bench fuzz tools lint tidy-check deps-postgres vet fmt clean

all: build

build: ## build bin/hookstream
	$(GO) build -o $(BIN) ./cmd/hookstream

run: build deps-postgres ## the whole pipeline: embedded NATS + private Postgres (unless DATABASE_URL)
	./$(BIN) serve

test: deps-postgres ## every test, against real NATS and Postgres, then each fuzz target briefly
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$${FUZZTIME:-3s}

test-race: deps-postgres
	$(GO) test -race -count=1 -timeout 20m ./gateway/... ./streams/... ./processors/...

bench: build deps-postgres ## load run printing figures; writes bench/results.json
	$(GO) run ./bench/cmd/hsbench $(BENCHFLAGS)

fuzz: ## each fuzz target for FUZZTIME (default 60s); crashers land in testdata/fuzz as regression seeds
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$dir/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== fuzz $$dir $$f ($${FUZZTIME:-60s})"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-60s} $$dir; \
	  done; \
	done

lint: tools/bin/golangci-lint ## golangci-lint (pinned in tools/lint) over the whole tree, configured by .golangci.yml
	tools/bin/golangci-lint run ./...

# Built from the module pinned in tools/lint/go.mod, so every machine lints
# with the same version and no binary is downloaded.
tools/bin/golangci-lint: tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && GOFLAGS="$$GOFLAGS -mod=readonly" $(GO) build -o ../bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

tidy-check: ## fail when go.mod or go.sum is not what `go mod tidy` makes
	$(GO) mod tidy -diff

tools: ## build the pinned nats CLI into tools/bin/nats
	cd tools && GOFLAGS="$$GOFLAGS -mod=readonly" $(GO) build -o bin/nats github.com/nats-io/natscli/nats

# PostgreSQL server binaries for the private cluster (skipped when
# DATABASE_URL is set or they are already installed).
deps-postgres:
	@if [ -z "$$DATABASE_URL" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  echo "installing PostgreSQL server binaries (apt-get install postgresql)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi; \
	fi

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
