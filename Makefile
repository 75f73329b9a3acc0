# clippie: make, make test, make install PREFIX=/usr/local
CC ?= cc
PREFIX ?= /usr/local
PKGS = libzip blas nettle zlib libutf8proc stb libjpeg
CFLAGS ?= -O3 -g
# always added, also when CFLAGS comes from the command line (test-sanitize)
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow
CPPFLAGS += $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm -lpthread

MODULES = util.o pickle.o weights.o convert.o transformer.o textenc.o vit.o tokenizer.o image.o vecfile.o
TESTS = tests/test_weights tests/test_model tests/test_tokenizer tests/test_image tests/test_transformer

# The tokenizer's merge list: from ../shared/clip when there, else from the
# openai/CLIP repository; either way its sha256 is checked. Never committed.
VOCAB_GZ = bpe_simple_vocab_16e6.txt.gz
VOCAB_SHA256 = 924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a
VOCAB_URL = https://github.com/openai/CLIP/raw/main/clip/$(VOCAB_GZ)
PYTHON ?= python3

all: clippie

clippie: clippie.o $(MODULES)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/%: tests/%.c tests/check.h $(MODULES)
	$(CC) $(CFLAGS) $(CPPFLAGS) -I. $(LDFLAGS) -o $@ $< $(MODULES) $(LDLIBS)

%.o: %.c $(wildcard *.h)
	$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

tokenizer.o: vocab.bpe.h entities.h
# the model's dot products want fused multiply-adds, which -std=c11 forbids
# the compiler to form; the rest (pixels, tokens) keeps exact C semantics
transformer.o: override CFLAGS += -ffp-contract=fast

$(VOCAB_GZ):
	if [ -f ../shared/clip/$(VOCAB_GZ) ]; then cp ../shared/clip/$(VOCAB_GZ) $@.part; \
	else curl -fsSL -o $@.part $(VOCAB_URL); fi
	echo "$(VOCAB_SHA256)  $@.part" | sha256sum -c --quiet
	mv $@.part $@

vocab.bpe.h: $(VOCAB_GZ) tools/gen_vocab.py
	$(PYTHON) tools/gen_vocab.py $(VOCAB_GZ) > $@.part && mv $@.part $@

entities.h: tools/gen_entities.py
	$(PYTHON) tools/gen_entities.py > $@.part && mv $@.part $@

test: clippie $(TESTS) tests/mkweights fuzz-regress
	@set -e; for t in $(TESTS); do ./$$t tests/fixtures; done
	@sh tests/cli.sh ./clippie tests/fixtures

# The fuzz targets' corpora as regression tests, without libFuzzer.
FUZZ = pickle convert weights image tokenizer
FUZZ_RUNNERS = $(FUZZ:%=tests/fuzz/run_%)

tests/fuzz/run_%: tests/fuzz/fuzz_%.c tests/fuzz/driver.c $(MODULES)
	$(CC) $(CFLAGS) $(CPPFLAGS) -I. $(LDFLAGS) -o $@ $< tests/fuzz/driver.c $(MODULES) $(LDLIBS)

fuzz-regress: $(FUZZ_RUNNERS)
	@tests/fuzz/run_pickle tests/fuzz/corpus/pickle
	@tests/fuzz/run_convert tests/fuzz/corpus/convert tests/fixtures/bad-*.pt
	@tests/fuzz/run_weights tests/fuzz/corpus/weights
	@tests/fuzz/run_image tests/fuzz/corpus/image tests/fixtures/img-rgb.png tests/fixtures/img-photo.jpg
	@tests/fuzz/run_tokenizer tests/fuzz/corpus/tokenizer

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
fuzz-%: vocab.bpe.h entities.h
	mkdir -p build/corpus-$*
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(CPPFLAGS) -D_GNU_SOURCE -I. -o build/fuzz_$* \
	    tests/fuzz/fuzz_$*.c $(MODULES:.o=.c) $(LDLIBS)
	build/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=20 build/corpus-$* tests/fuzz/corpus/$*

install: clippie
	install -D -m 755 clippie $(DESTDIR)$(PREFIX)/bin/clippie

clean:
	rm -f clippie *.o $(TESTS) tests/mkweights $(FUZZ_RUNNERS) vocab.bpe.h entities.h $(VOCAB_GZ)

.PHONY: all test install clean fuzz-regress test-sanitize
