# clippie: make, make test, make install PREFIX=/usr/local [DESTDIR=...]
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
PKGS = nettle zlib libutf8proc libjpeg sqlite3 libcjson
# loaded on first use (util_lib_load), by the SONAME the build found: linked
# only into the tests, which make files with them
LAZY_PKGS = blas libzip libheif libraw_r libtiff-4 lcms2 libwebp libwebpdemux chafa
LAZY = BLAS:libblas ZIP:libzip HEIFIMG:libheif RAWIMG:libraw_r TIFFIMG:libtiff LCMS:liblcms2 WEBPDEMUX:libwebpdemux CHAFA:libchafa
soname = $(shell objdump -p "$$($(CC) -print-file-name=$(1).so)" 2>/dev/null | sed -n 's/^ *SONAME *//p')
$(foreach l,$(LAZY),$(eval $(word 1,$(subst :, ,$l))_SONAME := $(call soname,$(word 2,$(subst :, ,$l)))))
$(foreach l,$(LAZY),$(if $($(word 1,$(subst :, ,$l))_SONAME),,$(error no SONAME found for $(word 2,$(subst :, ,$l)).so: is its -dev package installed?)))
CFLAGS ?= -O3 -g
# always added, also when CFLAGS comes from the command line (test-sanitize)
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 -Wconversion -Wno-sign-conversion
CPPFLAGS += $(shell pkg-config --cflags $(PKGS) $(LAZY_PKGS)) \
	$(foreach l,$(LAZY),-D$(word 1,$(subst :, ,$l))_SONAME='"$($(word 1,$(subst :, ,$l))_SONAME)"')
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -lpthread -ldl
TEST_LDLIBS = $(LDLIBS) $(shell pkg-config --libs $(LAZY_PKGS))

# The layers, each a folder (the design card's files at the top): model/
# (what runs the towers), formats/ (photo decoders), index/ (the index, the
# folder walk, search), util/ (files, vectors, errors). Every .c beside
# clippie.c and in those folders is a module, built into build/; every
# tests/test_*.c a unit test, linked with the modules. commands/ holds the
# command line's files (one a subcommand), linked into clippie alone.
LAYERS = model formats index util
SOURCES = $(filter-out clippie.c,$(wildcard *.c)) $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
MODULES = $(SOURCES:%.c=build/%.o)
COMMANDS = $(patsubst %.c,build/%.o,$(wildcard commands/*.c))
override CPPFLAGS += -I. $(LAYERS:%=-I%) -Icommands
TESTS = $(patsubst %.c,%,$(wildcard tests/test_*.c))
FUZZ = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_RUNNERS = $(FUZZ:%=tests/fuzz/run_%)

all: clippie

clippie: build/clippie.o $(COMMANDS) $(MODULES)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/%: tests/%.c $(wildcard tests/*.h) $(MODULES)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ $< $(MODULES) $(TEST_LDLIBS)

# an object depends on its own source and the headers it includes (-MMD)
build/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<
-include $(MODULES:.o=.d) $(COMMANDS:.o=.d) build/clippie.d

# the model's dot products want fused multiply-adds, which -std=c11 forbids
# the compiler to form; the rest (pixels, tokens) keeps exact C semantics
build/model/transformer.o: override CFLAGS += -ffp-contract=fast

# vocab.bpe.h, entities.h and codepages.h are committed; `make regen`
# rewrites them from the tokenizer's merge list (../shared/clip, else
# openai/CLIP's repository, its sha256 checked), Python's html.entities and
# Python's codecs.
VOCAB_GZ = bpe_simple_vocab_16e6.txt.gz
VOCAB_SHA256 = 924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a
VOCAB_URL = https://github.com/openai/CLIP/raw/main/clip/$(VOCAB_GZ)
PYTHON ?= python3
REGEN_DIR ?= .
regen:
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if [ -f ../shared/clip/$(VOCAB_GZ) ]; then cp ../shared/clip/$(VOCAB_GZ) "$$tmp/"; \
	else curl -fsSL -o "$$tmp/$(VOCAB_GZ)" $(VOCAB_URL); fi; \
	echo "$(VOCAB_SHA256)  $$tmp/$(VOCAB_GZ)" | sha256sum -c --quiet; \
	$(PYTHON) tools/gen_vocab.py "$$tmp/$(VOCAB_GZ)" > "$$tmp/vocab.bpe.h"; \
	$(PYTHON) tools/gen_entities.py > "$$tmp/entities.h"; \
	$(PYTHON) tools/gen_codepages.py > "$$tmp/codepages.h"; \
	mv "$$tmp/vocab.bpe.h" "$$tmp/entities.h" "$$tmp/codepages.h" $(REGEN_DIR)/

test: clippie $(TESTS) tests/mkweights tests/pixels tests/craft_index fuzz-regress
	@set -e; for t in $(TESTS); do ./$$t tests/fixtures; done
	@sh tests/cli.sh ./clippie tests/fixtures
	@sh tests/hostile_index.sh ./clippie tests/fixtures
	@sh tools/check_includes.sh
	@if command -v groff >/dev/null; then out=$$(groff -man -ww -z clippie.1 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; echo "man: 0 passed, 1 failed"; exit 1; fi; echo "man: 1 passed, 0 failed"; fi

# The fuzz targets' corpora as regression tests, without libFuzzer; a target
# may take extra seeds from the fixtures (FUZZ_SEEDS_name).
FUZZ_SEEDS_convert = tests/fixtures/bad-*.pt
FUZZ_SEEDS_image = tests/fixtures/img-rgb.png tests/fixtures/img-photo.jpg

tests/fuzz/run_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(MODULES)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/driver.c $(MODULES) $(LDLIBS)

fuzz-regress: $(FUZZ_RUNNERS)
	@$(foreach f,$(FUZZ),tests/fuzz/run_$f tests/fuzz/corpus/$f $(wildcard $(FUZZ_SEEDS_$f)) &&) true

# The same tests built with AddressSanitizer and UndefinedBehaviorSanitizer
# (cleans up after itself, so that no sanitized build is left to benchmark).
SANITIZE = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
test-sanitize:
	$(MAKE) clean
	ASAN_OPTIONS=detect_leaks=1 $(MAKE) test CFLAGS="$(SANITIZE)" LDFLAGS="$(SANITIZE)"
	$(MAKE) clean

# libFuzzer (clang): make fuzz-image FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
fuzz-%:
	mkdir -p build/corpus-$*
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(CPPFLAGS) -D_GNU_SOURCE -o build/fuzz_$* \
	    tests/fuzz/fuzz_$*.c $(SOURCES) $(LDLIBS)
	build/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=20 build/corpus-$* tests/fuzz/corpus/$*

install: clippie
	install -D -m 755 clippie $(DESTDIR)$(BINDIR)/clippie
	install -D -m 644 clippie.1 $(DESTDIR)$(MANDIR)/man1/clippie.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/clippie $(DESTDIR)$(MANDIR)/man1/clippie.1

clean:
	rm -f clippie $(TESTS) tests/mkweights tests/pixels tests/craft_index $(FUZZ_RUNNERS)
	rm -rf build/*.o build/*.d $(LAYERS:%=build/%) build/commands

.PHONY: all test install uninstall clean fuzz-regress test-sanitize regen
