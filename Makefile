# Lifeboat. `make demo` sets everything up and runs the main job; `make test`
# runs every test against the real local stack.
SHELL := /bin/bash
BIN := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
FUZZTIME ?= 30s
SCALE ?= 50
N ?= 3
GO_TEST_FLAGS ?=
# The Go vulnerability database make lint checks against, built offline from
# this version of the golang.org/x/vulndb module (the module proxy serves it;
# its pseudo-version's date is the database's). To move it forward:
# `go list -m golang.org/x/vulndb@latest` and put that version here.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018

.PHONY: all deps build dev demo down status test unit integration lint fuzz clean bench bench-backup bench-failover bench-filesync chaos

all: build

deps:
	@scripts/deps.sh

build:
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/lifeboat ./starter
	go build -ldflags "-X main.version=$(VERSION)" -o $(BIN)/lifeboat-worker ./worker
	go build -o $(BIN)/lifeboat-dev ./cmd/lifeboat-dev

# dev starts the local stack (Temporal and its Web UI, PostgreSQL primary and
# two replicas, Redis master, replica and three sentinels, S3, one worker per
# region) and leaves it running; `make down` stops it.
dev: deps build
	$(BIN)/lifeboat-dev up

demo: dev
	@scripts/demo.sh

down:
	@if [ -x $(BIN)/lifeboat-dev ]; then $(BIN)/lifeboat-dev down; else go run ./cmd/lifeboat-dev down; fi

status: build
	$(BIN)/lifeboat-dev status

test: deps build lint
	go test -count=1 -timeout 40m $(GO_TEST_FLAGS) ./...

unit:
	go test -count=1 $(GO_TEST_FLAGS) $$(go list ./... | grep -v /integration)

integration: deps build
	go test -count=1 -timeout 40m $(GO_TEST_FLAGS) ./integration/...

lint: deps
	@unformatted=$$(gofmt -l $$(go list -f '{{.Dir}}' ./...)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	$(BIN)/workflowcheck ./workflows/...
	@# Kubernetes overlays built and decoded into the API's types, alert rules
	@# through promtool (check and unit tests), the Grafana dashboard.
	go test -count=1 ./deployments/
	@# govulncheck against the vulndb snapshot above (built into .dev/vulndb):
	@# a vulnerable symbol called in a required module fails; one in the
	@# standard library is listed with the Go release that fixes it, not failed.
	go run ./cmd/lifeboat-vulncheck -vulndb $(VULNDB_VERSION) -db .dev/vulndb -govulncheck $(BIN)/govulncheck ./...

# fuzz runs every fuzz test of the parsers for FUZZTIME each.
fuzz:
	@for f in schemas:FuzzParseTopology schemas:FuzzParseManifest schemas:FuzzCheckWALName schemas:FuzzParseLSN \
	  policy:FuzzPlanRetention activities/filesync:FuzzDecodeFileManifest activities/walarchive:FuzzParseTimelineHistory \
	  workflows:FuzzDecodeInput; do \
	  echo "== $$f"; go test -run='^$$' -fuzz="^$${f#*:}\$$" -fuzztime=$(FUZZTIME) ./$${f%%:*} || exit 1; done

# bench-backup measures, on the running stack (`make dev`), Lifeboat's backup
# and restore against `pg_basebackup | zstd | age` on a pgbench database of
# scale SCALE (50: about 750 MB; 200: about 3 GB), N times each, and prints
# the medians as name=value lines. DROP=1 drops the database afterwards.
bench: bench-backup

bench-backup: deps build
	go build -o $(BIN)/lifeboat-bench ./cmd/lifeboat-bench
	$(BIN)/lifeboat-bench -scale $(SCALE) -runs $(N) $(if $(DROP),-drop)

# bench-failover measures, on the running stack (`make dev`), ROUNDS
# automatic failovers: SIGKILL of the primary's postmaster (FAULT=freeze:
# SIGSTOP of all its processes, a stalled host), time to the first
# write the new primary acknowledges (a writer inserts every 10 ms through
# the routing record), acknowledged writes lost, and the monitor's history
# growth over IDLE on a quiet cluster (the default covers a whole cycle of
# the probes' 30-minute reports). It leaves pg-a1 primary again.
ROUNDS ?= 5
IDLE ?= 31m
FAULT ?= kill
bench-failover: deps build
	go build -o $(BIN)/lifeboat-failbench ./cmd/lifeboat-failbench
	$(BIN)/lifeboat-failbench -rounds $(ROUNDS) -idle $(IDLE) -fault $(FAULT)

# bench-filesync syncs, on the running stack (`make dev`), a generated tree
# of FILES files and SIZE_MB MB (a mix of sizes, half text, half random)
# with the FileSync workflow, then changes 1 % of it and syncs again, N times
# each (HOT_PAIRS times a run with everything in the page cache, the
# shortest and noisiest), and in the same run does the same with
# `rsync -a --checksum`; it prints the medians as name=value lines. The tree
# goes under .dev and is removed at the end (KEEP=1 keeps it for the next run).
FILES ?= 20000
SIZE_MB ?= 2000
HOT_PAIRS ?= 5
bench-filesync: deps build
	go build -o $(BIN)/lifeboat-bench-filesync ./cmd/lifeboat-bench-filesync
	$(BIN)/lifeboat-bench-filesync -files $(FILES) -size-mb $(SIZE_MB) -runs $(N) -hot-pairs $(HOT_PAIRS) $(if $(KEEP),-keep)

# chaos runs the reliability suite on the local stack (started if it is not
# running): every TestChaos scenario with all its repetitions, then prints
# the table (scenario, result, acknowledged writes lost, time to recover),
# also kept in .dev/chaos-table.txt. `make test` runs the reduced set.
chaos: deps build
	LIFEBOAT_CHAOS=full go test -count=1 -timeout 50m -run '^TestChaos' $(GO_TEST_FLAGS) ./integration/

clean: down
	rm -rf .dev bin
