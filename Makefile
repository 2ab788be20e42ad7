# hubd build, test and release targets. See README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BUILD   := $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: all build deps test bench demo arm64 armv7 deb lint soak fuzz clean

all: build

build:
	$(BUILD) -o bin/hubd ./cmd/hubd
	$(BUILD) -o bin/devsim ./cmd/devsim

# Every test, with the race detector, after installing the Debian packages
# some tests need when they are missing. .ci/run calls exactly this.
test: deps
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -race -count=1 ./drivers/mqtt/broker -args -goroutine-reader

deps:
	@sh .ci/install-deps

# Benchmarks print their figures (latency percentiles, rates, ratios).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

demo: build
	./bin/hubd demo

arm64:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(BUILD) -o bin/linux-arm64/hubd ./cmd/hubd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(BUILD) -o bin/linux-arm64/devsim ./cmd/devsim

armv7:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o bin/linux-armv7/hubd ./cmd/hubd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o bin/linux-armv7/devsim ./cmd/devsim

# Debian packages dist/hubd_<version>_{amd64,arm64}.deb (systemd/deb/).
deb:
	@set -e; v=$$(sh systemd/deb/version.sh); for a in amd64 arm64; do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(BUILD) -o bin/linux-$$a/hubd ./cmd/hubd; \
		sh systemd/deb/build.sh $$a bin/linux-$$a/hubd $$v dist; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Every Fuzz target of the tree for FUZZTIME each. -fuzz takes one target
# per package run, so the targets are listed from their func lines: new
# ones are picked up by themselves. A crasher is kept by go test under the
# package's testdata/fuzz/ and fails the run.
FUZZTIME      ?= 20s
SOAK_FUZZTIME ?= 4s
SOAK_DURATION ?= 5m

fuzz:
	@set -e; grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sort | while IFS=: read -r file fn; do \
		name=$${fn#func }; pkg=./$$(dirname $${file#./}); \
		echo "== fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# The long part (about 30 minutes): every Fuzz target for SOAK_FUZZTIME,
# then the load test (1,000 MQTT devices, SOAK_DURATION) printing its
# memory trend, query latency per minute and sent vs applied reports, the
# memory of 10,000 devices reporting every 10 s for SOAK_DURATION, and the
# 10,000-device load test (LOAD_DURATION) printing memory, query latency
# and reports sent and applied each minute.
LOAD_DURATION ?= 10m

soak:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(SOAK_FUZZTIME)
	HUBD_SOAK=1 SOAK_DURATION=$(SOAK_DURATION) LOAD_DURATION=$(LOAD_DURATION) $(GO) test -count=1 -run '^TestLoad_' -v -timeout 45m ./cmd/hubd

clean:
	rm -rf bin dist
