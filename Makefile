# hubd build, test and release targets. See README.md.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BUILD   := $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: all build test bench demo arm64 armv7 deb lint soak fuzz clean

all: build

build:
	$(BUILD) -o bin/hubd ./cmd/hubd
	$(BUILD) -o bin/devsim ./cmd/devsim

# Every test, with the race detector. .ci/run calls exactly this.
test:
	$(GO) test -race -count=1 -timeout 14m ./...

# Benchmarks print their figures (latency percentiles, rates, ratios).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...

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

clean:
	rm -rf bin dist
