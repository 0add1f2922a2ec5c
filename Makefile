# Each target delegates to a small script in scripts/ so CI and people run
# exactly the same thing.
.PHONY: all build fmt lint test bench demo fuzz

all: lint test

build:
	go build -o bin/ ./cmd/...

fmt:
	scripts/fmt.sh

lint:
	scripts/lint.sh

test:
	scripts/test.sh

bench:
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

demo:
	scripts/demo.sh $(DATA_DIR)
