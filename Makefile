# ArenaMesh: the two commands a person needs are `make run` and `make test`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 10
CTEST_ARGS ?= --output-on-failure -j2
SOURCES = $(shell git ls-files '*.c' '*.h' '*.cc' 2>/dev/null || find node mesh protocol browser_link tools tests bench -name '*.[ch]' -o -name '*.cc')
JS_SOURCES = $(shell git ls-files '*.mjs' '*.js' ':!:*node_modules/*' ':!:*package-lock*' 2>/dev/null || find tests userscript -name node_modules -prune -o \( -name '*.mjs' -o -name '*.js' \) -print)

PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all build run test install deb bootstrap bootstrap-test unit asan tsan mutants fuzz fuzz-smoke format format-check bench clean

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

# arena-node, arena-mesh, their man pages, the systemd unit and a default
# configuration under PREFIX (staged under DESTDIR when given): docs/operations.md.
# (configured again only for another PREFIX: configuring a build the first
# time with the prefix it already has rebuilds it all, under running tests)
install: $(BUILD)/CMakeCache.txt
	@grep -qx 'CMAKE_INSTALL_PREFIX:PATH=$(PREFIX)' $(BUILD)/CMakeCache.txt || \
	    cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

# arena-node_VERSION_ARCH.deb in DEB_OUT (default: here), from its own build for /usr
# (docs/operations.md, "The Debian package").
DEB_BUILD ?= build-deb
DEB_OUT   ?= .
deb:
	cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	    -DARENA_SYSTEMD_UNITDIR=/lib/systemd/system
	cmake --build $(DEB_BUILD) -j $(JOBS) --target arena-node arena-mesh manpages
	tools/mkdeb.sh $(DEB_BUILD) $(DEB_OUT)

test: bootstrap-test build
	cd $(BUILD) && ctest $(CTEST_ARGS)
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) fuzz-smoke
	$(MAKE) format-check
	@echo "make test: all suites passed"

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DENABLE_ASAN=ON -DENABLE_UBSAN=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_ARGS)

# ThreadSanitizer on the suites that run several threads: the mesh (libzmq's
# I/O threads), the link and HTTP servers, dispatch and forwarding, the fakes,
# and the integration tests (TSan-built arena-node, fake-link, fake-arena).
# tests/tsan.supp silences only the uninstrumented libraries (libzmq...).
TSAN_TESTS ?= ^unit\.test_(mesh|mesh_bound|mesh_records|link|fake_link|fake_arena_server|dispatch|forward|status_view|routes|alloc)$$|^integration\.
# Nothing is skipped; TSAN_PENDING exists to skip a suite while a race in it
# is being fixed (an ctest -E regex).
TSAN_PENDING ?=
TSAN_RUN_OPTIONS = suppressions=$(CURDIR)/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1

tsan:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENABLE_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	@# Some kernels map memory where this TSan does not expect it ("unexpected
	@# memory mapping", vm.mmap_rnd_bits > 28): then run without ASLR.
	@set -e; cd $(TSAN_BUILD); run=; \
	if ! probe=$$(./arena-node --version 2>&1); then \
	    if echo "$$probe" | grep -q "unexpected memory mapping"; then \
	        run="setarch $$(uname -m) -R"; \
	        $$run ./arena-node --version >/dev/null 2>&1 || { echo "tsan: TSan cannot run here, even without ASLR:"; echo "$$probe"; exit 1; }; \
	        echo "tsan: this kernel's address layout needs ASLR off: running under $$run"; \
	    else echo "$$probe"; exit 1; fi; \
	fi; \
	TSAN_OPTIONS=$(TSAN_RUN_OPTIONS) $$run ctest $(CTEST_ARGS) --no-tests=error -R '$(TSAN_TESTS)' $(if $(TSAN_PENDING),-E '$(TSAN_PENDING)')

# Mutation check: each mutant of tests/mutants.txt, applied to a scratch copy
# in build-mutants/, must make its named tests fail (tools/mutants.sh).
mutants:
	tools/mutants.sh $(MUTANTS)

fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENABLE_FUZZ=ON
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
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-mutants
