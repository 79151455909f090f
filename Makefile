# SPDX-License-Identifier: GPL-2.0-or-later
#
# passt/pasta in Go: one static binary, installed as passt with pasta as a hard link.

GO        ?= go
prefix    ?= /usr/local
exec_prefix ?= $(prefix)
bindir    ?= $(exec_prefix)/bin
datarootdir ?= $(prefix)/share
mandir    ?= $(datarootdir)/man
man1dir   ?= $(mandir)/man1
# AppArmor reads its policy from /etc/apparmor.d only, whatever the prefix;
# the profiles attach to /usr/bin and /usr/local/bin.
apparmordir ?= /etc/apparmor.d
DESTDIR   ?=

# Upstream's version format: date of the last commit and its short hash.
VERSION   ?= $(shell git log -1 --format=%cd.%h --date=format:%Y_%m_%d 2>/dev/null || echo unknown)
LDFLAGS   := -s -w -X passt/version.Version=$(VERSION)
# On amd64 the ELF entry point is a small assembly stub that can join an
# existing user namespace before the Go runtime starts (pasta PID,
# --userns); see cmd/passt/entry_amd64.s.
GOARCH    ?= $(shell $(GO) env GOARCH)
ifeq ($(GOARCH),amd64)
LDFLAGS   += -E main.pastaEntry
endif
GOFLAGS_BUILD := -trimpath -ldflags "$(LDFLAGS)"
STATICCHECK_VERSION ?= v0.7.0

export CGO_ENABLED = 0

SOURCES := $(shell find . \( -name '*.go' -o -name '*.s' \) -not -path './.git/*') go.mod go.sum

.PHONY: all check unit integration deps lint install uninstall clean bench soak

all: passt pasta

# build/version holds the version the binary was built with, rewritten only
# when it changes: a commit that touches no source still rebuilds the
# binary, so that --version (and make bench's report) names it.
VERSION_STAMP := $(shell mkdir -p build && { echo '$(VERSION)' | cmp -s - build/version || echo '$(VERSION)' >build/version; } && echo build/version)

passt: $(SOURCES) $(VERSION_STAMP)
	$(GO) build $(GOFLAGS_BUILD) -o $@ ./cmd/passt

# A hard link, not a symlink: AppArmor resolves links before attaching a
# profile, so only a hard link lets pasta have a profile of its own.
pasta: passt
	ln -f passt pasta

# Install what the tests need (as root, with apt-get), then run every test.
check: deps all
	$(GO) test -count=1 -timeout 20m ./...

deps:
	./test/install-deps.sh

# Throughput, latency, startup time and memory against Debian's passt,
# slirp4netns and the loopback ceiling, as root (not a test; not part of
# check). Writes docs/bench.md and charts; BENCH_RUNS, BENCH_TIME and the
# other knobs are described in test/bench.sh. Smoke run:
# make bench BENCH_TIME=1 BENCH_RUNS=1 (results in build/bench/).
bench: all
	./test/bench.sh

lint:
	$(GO) vet ./...
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

MANPAGES  := doc/passt.1 doc/pasta.1
PROFILES  := apparmor/usr.bin.passt apparmor/usr.bin.pasta
ABSTRACTIONS := apparmor/abstractions/passt apparmor/abstractions/pasta

# pasta is installed as a hard link for the same reason as above: its
# AppArmor profile attaches to its own path.
install: passt
	install -d $(DESTDIR)$(bindir) $(DESTDIR)$(man1dir) \
		$(DESTDIR)$(apparmordir)/abstractions
	install -m 0755 passt $(DESTDIR)$(bindir)/passt
	ln -f $(DESTDIR)$(bindir)/passt $(DESTDIR)$(bindir)/pasta
	install -m 0644 $(MANPAGES) $(DESTDIR)$(man1dir)/
	install -m 0644 $(PROFILES) $(DESTDIR)$(apparmordir)/
	install -m 0644 $(ABSTRACTIONS) $(DESTDIR)$(apparmordir)/abstractions/

uninstall:
	rm -f $(DESTDIR)$(bindir)/passt $(DESTDIR)$(bindir)/pasta
	rm -f $(addprefix $(DESTDIR)$(man1dir)/,$(notdir $(MANPAGES)))
	rm -f $(addprefix $(DESTDIR)$(apparmordir)/,$(notdir $(PROFILES)))
	rm -f $(addprefix $(DESTDIR)$(apparmordir)/abstractions/,$(notdir $(ABSTRACTIONS)))

clean:
	rm -f passt pasta
	$(GO) clean -testcache

# The robustness suite at full length (issue 8): 1 GiB integrity streams,
# 100 000-connection churn, 100 000 UDP flows per path and direction
# (TestChurnUDP), the engines full of TCP and UDP flows (TestCapacity*),
# 60 s full windows, 10 minutes of frame fuzzing per engine. About 45
# minutes; not part of check.
SOAK_TESTS ?= TestIntegrity|TestChurn|TestFault|TestHostileInput|TestCapacity
soak: deps all
	PASST_SOAK=1 $(GO) test -count=1 -timeout 3h -v -run '$(SOAK_TESTS)' ./test/
