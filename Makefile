# ArenaMesh: the two commands a person needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 10
CTEST_ARGS ?= --output-on-failure -j2
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find node mesh protocol browser_link tools tests bench -name '*.[ch]')
JS_SOURCES = $(shell git ls-files '*.mjs' '*.js' ':!:*node_modules/*' ':!:*package-lock*' 2>/dev/null || find tests userscript -name node_modules -prune -o \( -name '*.mjs' -o -name '*.js' \) -print)

.PHONY: all build run test bootstrap bootstrap-test unit asan fuzz fuzz-smoke format format-check bench clean

all: build

bootstrap:
	@tools/bootstrap.sh

bootstrap-test:
	@tools/bootstrap.sh --test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# Start one node on the defaults (HTTP 127.0.0.1:5102, link 127.0.0.1:5103).
run: bootstrap build
	./$(BUILD)/arena-node $(ARGS)

test: bootstrap-test build
	cd $(BUILD) && ctest $(CTEST_ARGS)
	$(MAKE) asan
	$(MAKE) fuzz-smoke
	$(MAKE) format-check
	@echo "make test: all suites passed"

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DENABLE_ASAN=ON -DENABLE_UBSAN=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

fuzz:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENABLE_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# A short run of every fuzzer over its seed corpus (a smoke, not a campaign).
fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_BUILD)/fuzz_*; do \
	    [ -f "$$f" ] && [ -x "$$f" ] || continue; \
	    name=$$(basename $$f); codec=$${name#fuzz_}; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$codec; \
	    echo "fuzz-smoke: $$name ($(FUZZ_SECONDS)s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=0 $(FUZZ_BUILD)/corpus/$$codec tests/fuzz/corpus/$$codec \
	        > $(FUZZ_BUILD)/$$name.log 2>&1 || { tail -50 $(FUZZ_BUILD)/$$name.log; exit 1; }; \
	done

format:
	clang-format -i $(SOURCES) $(JS_SOURCES)

format-check:
	clang-format --dry-run -Werror $(SOURCES) $(JS_SOURCES)

bench: build
	./$(BUILD)/arena-bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
