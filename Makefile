# clippie: make, make test, make install PREFIX=/usr/local
CC ?= cc
PREFIX ?= /usr/local
PKGS = libzip blas nettle zlib
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow
CPPFLAGS += $(shell pkg-config --cflags $(PKGS))
LDLIBS += $(shell pkg-config --libs $(PKGS)) -lm

MODULES = util.o pickle.o weights.o convert.o transformer.o textenc.o vit.o
TESTS = tests/test_weights tests/test_model

all: clippie

clippie: clippie.o $(MODULES)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests/%: tests/%.c tests/check.h $(MODULES)
	$(CC) $(CFLAGS) $(CPPFLAGS) -I. $(LDFLAGS) -o $@ $< $(MODULES) $(LDLIBS)

%.o: %.c $(wildcard *.h)
	$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

test: clippie $(TESTS)
	@set -e; for t in $(TESTS); do ./$$t tests/fixtures; done
	@sh tests/cli.sh ./clippie tests/fixtures

install: clippie
	install -D -m 755 clippie $(DESTDIR)$(PREFIX)/bin/clippie

clean:
	rm -f clippie *.o $(TESTS)

.PHONY: all test install clean
