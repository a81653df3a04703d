# SPDX-License-Identifier: LGPL-2.1-or-later
# MK.IO organization membership for Linux: pam_mkio.so, libnss_mkio.so.2, mkio-orgs.
#
#   make              build everything into build/
#   make check        every test: unit, integration, end to end, brief fuzz; then
#                     unit and integration again under ASan+UBSan, unit under valgrind
#   make check SAN=1  only the ASan+UBSan part (into build-san/)
#   make valgrind     the unit tests under valgrind
#   make fuzz         the fuzz targets for a bounded time
#   make bench        benchmarks (not part of check)
#   make demo         the demo: an invite accepted at login, seen as a Unix group
#   make install DESTDIR=... PREFIX=/usr
#   make uninstall    the same DESTDIR and PREFIX: removes what install put in
#                     place, keeping /etc/mkio and /var/lib/mkio
#   make deb          the Debian packages into $(B)/deb (dpkg-buildpackage, lintian)
#   make check-deb    build the packages, install, use, remove and purge them
#                     in a private namespace (tests/e2e/deb-e2e; needs root)

PREFIX   ?= /usr
DESTDIR  ?=
TRIPLET  := $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -dumpmachine)
LIBDIR   ?= /lib/$(TRIPLET)
PAMDIR   ?= $(LIBDIR)/security
BINDIR   ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR  ?= /lib/systemd/system
# The login helper's path is compiled into pam_mkio.so: it is never taken
# from configuration or the environment (docs/ARCHITECTURE.md, invariant 2).
LIBEXECDIR ?= $(PREFIX)/libexec/mkio
HELPER_PATH := $(LIBEXECDIR)/mkio-login-helper
# The refresh program the helper (a gate) execs, compiled into the gate the
# same way (login/login_protocol.h).
REFRESH_PATH := $(LIBEXECDIR)/mkio-login-refresh
DOCDIR   ?= $(PREFIX)/share/doc/mkio
# Where the tools that read these look, whatever PREFIX is: pam-auth-update
# reads only /usr/share/pam-configs, systemd-tmpfiles /usr/lib/tmpfiles.d
# (and /etc), AppArmor /etc/apparmor.d.
PAMCONFIGDIR ?= /usr/share/pam-configs
TMPFILESDIR  ?= /usr/lib/tmpfiles.d
APPARMORDIR  ?= $(SYSCONFDIR)/apparmor.d
MANDIR   ?= $(PREFIX)/share/man
# Where bash-completion looks (pkg-config --variable=completionsdir bash-completion),
# and zsh and fish look for a package's completions (Debian's zsh reads
# vendor-completions; fish's pkg-config completionsdir is vendor_completions.d).
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPLETIONDIR ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPLETIONDIR ?= $(PREFIX)/share/fish/vendor_completions.d

CC       ?= cc
SAN      ?=
ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B        := build
SANFLAGS :=
endif

# The one place the version is written: debian/changelog's first entry. The
# tool prints it, the packages carry it, the manual pages name it.
VERSION  := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC -fno-strict-overflow
CFLAGS   ?= -O2 -g
# Headers are named with their folder ("base/text.h", "login/login_common.h"),
# so an include says which layer or part it reaches into.
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(SANFLAGS) $(CFLAGS) -Icommon -I. \
              -MMD -MP
HLDFLAGS := -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--as-needed $(SANFLAGS) $(LDFLAGS)

# ---- the layers of common/ (docs/ARCHITECTURE.md, "Layers") --------------
# Each folder of common/ is one static library, lowest first; a layer uses
# only the layers before it, and only net/ may use libcurl and json-c. The
# rule is checked from the tree (tests/layer-check): includes, undefined
# symbols, and what each program links.
LAYERS   := base groupfile store net
LAYER_EXTLIBS_net := -lcurl -ljson-c
layer_lib = $(B)/libmkio-$(1).a
layer_objs = $(patsubst %.c,$(B)/%.o,$(wildcard common/$(1)/*.c))
# The libraries of a layer and every layer below it, highest first (the
# order a static link wants).
layers_upto = $(foreach l,$(shell echo $(LAYERS) | tr ' ' '\n' | sed -n '1,/^$(1)$$/p' | tac),\
                $(call layer_lib,$(l)))
ALL_LAYER_LIBS := $(call layers_upto,net)
RUNTIME_LIBS := $(LAYER_EXTLIBS_net)

$(foreach l,$(LAYERS),$(eval $(call layer_lib,$(l)): $(call layer_objs,$(l))))
$(B)/libmkio-%.a:
	rm -f $@ && ar rcs $@ $^

# ---- the programs: each a folder of sources over the layers it may use ----
# PROGRAM_LAYER_x is the highest layer x links (it gets that layer and all
# below); PROGRAM_SRC_x its own sources. tests/layer-check reads these.
NSS_SO     := $(B)/libnss_mkio.so.2
PAM_SO     := $(B)/pam_mkio.so
GATE_BIN   := $(B)/mkio-login-helper
REFRESH_BIN := $(B)/mkio-login-refresh
TOOL_BIN   := $(B)/mkio-orgs
# The shell completions, written by the tool from its verb table
# (tool/completion.h): bash, zsh and fish offer what --help lists.
COMPLETIONS := $(B)/completion/mkio-orgs $(B)/completion/_mkio-orgs $(B)/completion/mkio-orgs.fish
PROGRAM_SRC_nss     := $(wildcard nss/*.c)
PROGRAM_LAYER_nss   := groupfile
PROGRAM_SRC_pam     := $(wildcard pam/*.c)
PROGRAM_LAYER_pam   := base
PROGRAM_SRC_gate    := login/mkio-login-helper.c login/login_common.c
PROGRAM_LAYER_gate  := store
# The socket interposer (common/net/interpose/socket_cloexec.c, not in
# libmkio-net.a) makes libcurl's own descriptors close-on-exec; the programs
# that run the HTTP client link it (net/http.h, "Descriptors and exec").
INTERPOSE_SRC := common/net/interpose/socket_cloexec.c
INTERPOSE_OBJ := $(INTERPOSE_SRC:%.c=$(B)/%.o)
PROGRAM_SRC_refresh := login/mkio-login-refresh.c login/login_common.c $(INTERPOSE_SRC)
PROGRAM_LAYER_refresh := net
PROGRAM_SRC_tool    := $(wildcard tool/*.c) $(INTERPOSE_SRC)
PROGRAM_LAYER_tool  := net
program_objs = $(patsubst %.c,$(B)/%.o,$(PROGRAM_SRC_$(1)))
program_libs = $(call layers_upto,$(PROGRAM_LAYER_$(1)))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# The objects of tests/unit and tests/tools are intermediate files of their
# programs' rules: keep them, or every `make unit` compiles them again.
.SECONDARY:
.PHONY: deps all check unit valgrind fuzz bench demo install uninstall clean deb check-deb \
        print-% FORCE
all: $(foreach l,$(LAYERS),$(call layer_lib,$(l))) $(NSS_SO) $(PAM_SO) $(GATE_BIN) \
     $(REFRESH_BIN) $(TOOL_BIN) $(COMPLETIONS)

$(B)/completion/mkio-orgs: SHELL_NAME := bash
$(B)/completion/_mkio-orgs: SHELL_NAME := zsh
$(B)/completion/mkio-orgs.fish: SHELL_NAME := fish
$(COMPLETIONS): $(TOOL_BIN)
	@mkdir -p $(dir $@)
	$(TOOL_BIN) --completion=$(SHELL_NAME) > $@.tmp && mv -f $@.tmp $@

# For tests/layer-check: `make -s print-VAR` prints a variable's value.
print-%:
	@echo '$($*)'

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# The NSS module links nothing but libc (invariant 1): its own folder over
# groupfile/ and base/; it exports only _nss_mkio_* (nss/nss_mkio.sym).
$(NSS_SO): $(call program_objs,nss) $(call program_libs,nss) nss/nss_mkio.sym
	$(CC) -shared -Wl,-soname,libnss_mkio.so.2 -Wl,--version-script=nss/nss_mkio.sym \
	    -Wl,-z,defs $(HLDFLAGS) -o $@ $(call program_objs,nss) $(call program_libs,nss)

# The NSS module's test build, never installed: the same objects, except
# that tests/nss/group_file_env.c stands for nss/group_file.c and takes the
# file from MKIO_GROUP_FILE. The NSS unit tests load it (tests/run-unit);
# the shipped module reads no environment variable (tests/run-all checks
# its symbols).
NSS_TEST_OBJ := $(filter-out $(B)/nss/group_file.o,$(call program_objs,nss)) \
                $(B)/tests/nss/group_file_env.o
$(B)/tests/libnss_mkio_test.so.2: $(NSS_TEST_OBJ) $(call program_libs,nss) nss/nss_mkio.sym
	$(CC) -shared -Wl,-soname,libnss_mkio_test.so.2 -Wl,--version-script=nss/nss_mkio.sym \
	    -Wl,-z,defs $(HLDFLAGS) -o $@ $(NSS_TEST_OBJ) $(call program_libs,nss)
unit: $(B)/tests/libnss_mkio_test.so.2

# The PAM module links nothing but libc and libpam (invariant 2): the work of
# a login runs in the helper it starts.
$(B)/pam/pam_mkio.o: ALL_CFLAGS += -DMK_HELPER_PATH='"$(HELPER_PATH)"'
# The module is rebuilt when the helper's path changes (`make` then
# `make install PREFIX=/usr/local`): $(B)/helper-path holds the path it was
# built with and is rewritten only when that differs.
$(B)/pam/pam_mkio.o: $(B)/helper-path
$(B)/helper-path: FORCE
	@mkdir -p $(B)
	@echo '$(HELPER_PATH)' | cmp -s - $@ || echo '$(HELPER_PATH)' > $@
FORCE:
$(PAM_SO): $(call program_objs,pam) $(call program_libs,pam) pam/pam_mkio.sym
	$(CC) -shared -Wl,--version-script=pam/pam_mkio.sym -Wl,-z,defs $(HLDFLAGS) -o $@ \
	    $(call program_objs,pam) $(call program_libs,pam) -lpam

# The login helper is two programs, one process (login/login_protocol.h):
# the gate mkio-login-helper links libc alone, over store/ and below, of
# which it takes no JSON code (tests/layer-check); it execs
# mkio-login-refresh, which links everything, when there is work.
$(B)/login/mkio-login-helper.o: ALL_CFLAGS += -DMK_REFRESH_PATH='"$(REFRESH_PATH)"'
$(B)/login/mkio-login-helper.o: $(B)/refresh-path
$(B)/refresh-path: FORCE
	@mkdir -p $(B)
	@echo '$(REFRESH_PATH)' | cmp -s - $@ || echo '$(REFRESH_PATH)' > $@
$(GATE_BIN): $(call program_objs,gate) $(call program_libs,gate)
	$(CC) -pie $(HLDFLAGS) -o $@ $^

$(REFRESH_BIN): $(call program_objs,refresh) $(call program_libs,refresh)
	$(CC) -pie $(HLDFLAGS) -o $@ $^ $(RUNTIME_LIBS)

$(B)/tool/main.o: ALL_CFLAGS += -DMK_VERSION='"$(VERSION)"'
$(TOOL_BIN): $(call program_objs,tool) $(call program_libs,tool)
	$(CC) -pie $(HLDFLAGS) -o $@ $^ $(RUNTIME_LIBS)

TESTUTIL_SRC := $(wildcard tests/unit/testutil*.c)
TESTUTIL_OBJ := $(TESTUTIL_SRC:%.c=$(B)/%.o)
# The tests of descriptors link the socket interposer (INTERPOSE_OBJ).
$(B)/tests/test_http $(B)/tests/tools/http-fork-exec: EXTRA_OBJ := $(INTERPOSE_OBJ)
$(B)/tests/test_http $(B)/tests/tools/http-fork-exec: $(INTERPOSE_OBJ)
$(B)/tests/test_%: $(B)/tests/unit/test_%.o $(TESTUTIL_OBJ) $(ALL_LAYER_LIBS)
	@mkdir -p $(dir $@)
	$(CC) -pie $(HLDFLAGS) -o $@ $< $(EXTRA_OBJ) $(TESTUTIL_OBJ) $(ALL_LAYER_LIBS) \
	    $(RUNTIME_LIBS) -lcmocka -lpthread
$(B)/tests/unit/%.o: ALL_CFLAGS += -Itests/unit

# Small programs the tests and benchmarks drive (tests/tools/NAME.c).
TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:tests/tools/%.c=$(B)/tests/tools/%)
$(B)/tests/tools/%: $(B)/tests/tools/%.o $(ALL_LAYER_LIBS)
	$(CC) -pie $(HLDFLAGS) -o $@ $< $(EXTRA_OBJ) $(ALL_LAYER_LIBS) $(RUNTIME_LIBS) -lpam -lpthread

unit: $(UNIT_BIN) $(TOOLS_BIN)

# Installs the Debian packages that are missing (a no-op when none is).
deps:
	sh tests/install-deps

# The plain `make check` runs everything: all suites on the normal build, the
# unit and integration suites again on an ASan+UBSan build, and the unit tests
# under valgrind. `make check SAN=1` runs only the sanitizer part. The suites
# run side by side, one per core (tests/run-all); the sanitizer tree is built
# beside the first of them, and its two suites start once it is built.
check: deps all unit
ifeq ($(SAN),)
	B=$(B) SAN_B=build-san SAN_BUILD='$(MAKE) SAN=1 all unit' VALGRIND=1 tests/run-all
else
	B=$(B) SAN=1 tests/run-all
endif

valgrind: all unit
	B=$(B) tests/run-unit --valgrind

fuzz:
	$(MAKE) -C tests/fuzz run B=$(abspath build-fuzz) SECONDS_EACH=$${SECONDS_EACH:-60}

bench: deps all
	B=$(B) tests/bench/run

demo: deps all
	B=$(B) tests/demo

# Units name $(BINDIR) and $(DOCDIR) as installed (the files in conf/ say
# /usr); the recipe fails if a substitution found nothing to replace.
UNIT_SED := -e 's|^ExecStart=/usr/bin/mkio-orgs |ExecStart=$(BINDIR)/mkio-orgs |' \
            -e 's|file:/usr/share/doc/mkio/|file:$(DOCDIR)/|g'
# The manual pages name the version (debian/changelog's) in their footer.
MAN_SED := -e 's|^\.Os$$|.Os mkio $(VERSION)|'
install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/mkio $(DESTDIR)$(SYSCONFDIR)/mkio/tokens $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PAMCONFIGDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(ZSHCOMPLETIONDIR) $(DESTDIR)$(FISHCOMPLETIONDIR)
	chmod 0700 $(DESTDIR)$(SYSCONFDIR)/mkio/tokens
	install -m 0644 $(B)/pam_mkio.so $(DESTDIR)$(PAMDIR)/pam_mkio.so
	install -m 0755 $(GATE_BIN) $(DESTDIR)$(HELPER_PATH)
	install -m 0755 $(B)/mkio-login-refresh $(DESTDIR)$(REFRESH_PATH)
	install -m 0644 $(B)/libnss_mkio.so.2 $(DESTDIR)$(LIBDIR)/libnss_mkio.so.2
	install -m 0755 $(B)/mkio-orgs $(DESTDIR)$(BINDIR)/mkio-orgs
	test -e $(DESTDIR)$(SYSCONFDIR)/mkio/mkio.conf || \
	    install -m 0644 conf/mkio.conf $(DESTDIR)$(SYSCONFDIR)/mkio/mkio.conf
	for u in mkio-sync.service mkio-sync.timer mkio-recheck.service mkio-recheck.path \
	    mkio-userdb.service mkio-refresh.socket mkio-refresh@.service; do \
	    sed $(UNIT_SED) conf/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	grep -q '^ExecStart=$(BINDIR)/mkio-orgs ' $(DESTDIR)$(UNITDIR)/mkio-sync.service
	grep -q '^ExecStart=$(BINDIR)/mkio-orgs ' $(DESTDIR)$(UNITDIR)/mkio-recheck.service
	grep -q '^ExecStart=$(BINDIR)/mkio-orgs ' $(DESTDIR)$(UNITDIR)/mkio-userdb.service
	grep -q '^ExecStart=$(BINDIR)/mkio-orgs ' $(DESTDIR)$(UNITDIR)/mkio-refresh@.service
	grep -q '^Documentation=.*file:$(DOCDIR)/README.md' $(DESTDIR)$(UNITDIR)/mkio-sync.service
	install -m 0644 conf/pam-configs/mkio $(DESTDIR)$(PAMCONFIGDIR)/mkio
	install -m 0644 conf/tmpfiles-mkio.conf $(DESTDIR)$(TMPFILESDIR)/mkio.conf
	install -m 0644 conf/apparmor/nameservice.d-mkio \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d/mkio
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	for m in man1/mkio-orgs.1 man5/mkio.conf.5 man8/pam_mkio.8 man8/nss-mkio.8; do \
	    sed $(MAN_SED) man/$${m#*/} > $(DESTDIR)$(MANDIR)/$$m.tmp && \
	    chmod 0644 $(DESTDIR)$(MANDIR)/$$m.tmp && \
	    mv -f $(DESTDIR)$(MANDIR)/$$m.tmp $(DESTDIR)$(MANDIR)/$$m || exit 1; \
	done
	grep -q '^\.Os mkio $(VERSION)$$' $(DESTDIR)$(MANDIR)/man1/mkio-orgs.1
	ln -sf nss-mkio.8 $(DESTDIR)$(MANDIR)/man8/libnss_mkio.so.2.8
	install -m 0644 $(B)/completion/mkio-orgs $(DESTDIR)$(COMPLETIONDIR)/mkio-orgs
	install -m 0644 $(B)/completion/_mkio-orgs $(DESTDIR)$(ZSHCOMPLETIONDIR)/_mkio-orgs
	install -m 0644 $(B)/completion/mkio-orgs.fish $(DESTDIR)$(FISHCOMPLETIONDIR)/mkio-orgs.fish

# Removes what install put in place, except what an administrator made or
# changed: /etc/mkio (mkio.conf and the tokens) and the state in /var/lib/mkio
# are kept (remove them by hand). Take mkio out of nsswitch.conf and run
# `pam-auth-update --remove mkio` first: install changes neither, so neither
# does this.
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_mkio.so $(DESTDIR)$(HELPER_PATH) $(DESTDIR)$(REFRESH_PATH) \
	    $(DESTDIR)$(LIBDIR)/libnss_mkio.so.2 $(DESTDIR)$(BINDIR)/mkio-orgs \
	    $(DESTDIR)$(UNITDIR)/mkio-sync.service $(DESTDIR)$(UNITDIR)/mkio-sync.timer \
	    $(DESTDIR)$(UNITDIR)/mkio-recheck.service $(DESTDIR)$(UNITDIR)/mkio-recheck.path \
	    $(DESTDIR)$(UNITDIR)/mkio-userdb.service $(DESTDIR)$(UNITDIR)/mkio-refresh.socket \
	    $(DESTDIR)$(UNITDIR)/mkio-refresh@.service \
	    $(DESTDIR)$(PAMCONFIGDIR)/mkio $(DESTDIR)$(TMPFILESDIR)/mkio.conf \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d/mkio $(DESTDIR)$(DOCDIR)/README.md \
	    $(DESTDIR)$(MANDIR)/man1/mkio-orgs.1 $(DESTDIR)$(MANDIR)/man5/mkio.conf.5 \
	    $(DESTDIR)$(MANDIR)/man8/pam_mkio.8 $(DESTDIR)$(MANDIR)/man8/nss-mkio.8 \
	    $(DESTDIR)$(MANDIR)/man8/libnss_mkio.so.2.8 $(DESTDIR)$(COMPLETIONDIR)/mkio-orgs \
	    $(DESTDIR)$(ZSHCOMPLETIONDIR)/_mkio-orgs $(DESTDIR)$(FISHCOMPLETIONDIR)/mkio-orgs.fish
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian packages (debian/), built in a copy of the tree; lintian must
# report no error and no warning.
deb:
	scripts/build-deb $(B)/deb

check-deb: deps
	tests/e2e/deb-e2e

clean:
	rm -rf build build-san build-fuzz
