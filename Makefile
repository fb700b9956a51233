# skiff — build, test, benchmark, release.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GO      ?= go
PLATFORMS := linux/amd64 linux/arm64 linux/arm/7

.PHONY: build dist test bench lint clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/skiff ./cmd/skiff

# Static binaries for the boards skiff runs on, with checksums.
dist:
	@mkdir -p dist
	@set -e; for p in $(PLATFORMS); do \
	  os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
	  name=skiff-$$os-$$arch; [ "$$arch" = arm ] && name=skiff-$$os-armv$$arm; \
	  echo "build dist/$$name"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$( [ "$$arch" = arm ] && echo $$arm ) \
	    $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/$$name ./cmd/skiff; \
	done
	cd dist && sha256sum skiff-* > SHA256SUMS

test:
	$(GO) test -race -count=1 -timeout 40m ./...

# The figures in docs/benchmarks.md come from these commands.
bench:
	$(GO) test -run='^$$' -bench=. -benchtime=2000x ./server/store/
	$(GO) test -run='^$$' -bench=API -benchtime=4000x ./server/apiserver/
	$(GO) test -run='^$$' -bench=. -benchmem ./server/api/ ./server/auth/ ./server/client/
	./scripts/bench-server.sh 10
	$(GO) test -run='^$$' -bench=. -benchtime=50x ./runtime/containerd/ ./netstack/cni/
	$(GO) test -run='^$$' -bench=. -benchmem ./runtime/logs/ ./runtime/probe/ ./runtime/gc/
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./server/scheduler/ ./runtime/hollow/
	$(GO) test -run='^$$' -bench=. -benchtime=5x ./server/controller/...
	$(GO) test -run='^$$' -bench='PodStart|JoinedAgent|Hollow|AppPush' -benchtime=1x ./cmd/skiff/
	$(GO) test -run='^$$' -bench=Build -benchtime=20x ./server/build/
	$(GO) test -run='^$$' -bench=EndpointsToRouter -benchtime=200x ./netstack/ingress/routes/

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin dist
