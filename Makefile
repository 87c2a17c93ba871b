# paycrawl: `make demo` runs the whole platform end to end; `make test` runs every test.
# Both install what they need that the machine lacks (scripts/deps.sh).

GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

TEST_TIMEOUT ?= 14m

.PHONY: all build test test-short demo lint bench fuzz deps clean

all: build

build:
	$(GO) build ./...

deps:
	scripts/deps.sh redis stripe-mock

## test: every test, unit and integration, with the race detector, on real
## redis-server, stripe-mock, the in-process EVM, headless Chromium and
## Cloudflare's own npm packages under node (interop/), and s3rver (internal/tests3).
test:
	scripts/deps.sh redis stripe-mock chromium node-modules s3-server
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

test-short:
	$(GO) test -count=1 ./...

## demo: the whole stack on loopback, end to end.
demo: deps
	$(GO) run ./cmd/stack demo

lint:
	scripts/deps.sh staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	staticcheck ./...

## bench: every benchmark and the gateway load test (scripts/bench.sh); BENCHMARKS.md records a run.
bench: deps
	scripts/bench.sh

## fuzz: a short run of every fuzz target.
fuzz:
	scripts/fuzz.sh

clean:
	rm -rf var/ bin/
