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
# from configuration or the environment (architecture invariant 2).
LIBEXECDIR ?= $(PREFIX)/libexec/mkio
HELPER_PATH := $(LIBEXECDIR)/mkio-login-helper
# The refresh program the helper (a gate) execs, compiled into the gate the
# same way (pam/login_helper.h).
REFRESH_PATH := $(LIBEXECDIR)/mkio-login-refresh
DOCDIR   ?= $(PREFIX)/share/doc/mkio
# Where the tools that read these look, whatever PREFIX is: pam-auth-update
# reads only /usr/share/pam-configs, systemd-tmpfiles /usr/lib/tmpfiles.d
# (and /etc), AppArmor /etc/apparmor.d.
PAMCONFIGDIR ?= /usr/share/pam-configs
TMPFILESDIR  ?= /usr/lib/tmpfiles.d
APPARMORDIR  ?= $(SYSCONFDIR)/apparmor.d
MANDIR   ?= $(PREFIX)/share/man
# Where bash-completion looks (pkg-config --variable=completionsdir bash-completion).
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

CC       ?= cc
SAN      ?=
ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B        := build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC -fno-strict-overflow
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(SANFLAGS) $(CFLAGS) -Icommon
HLDFLAGS := -Wl,-z,relro,-z,now -Wl,-z,noexecstack -Wl,--as-needed $(SANFLAGS) $(LDFLAGS)

# Every file of common/ is part of libmkio.a.
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
RUNTIME_LIBS := -lcurl -ljson-c

NSS_SRC  := nss/nss_mkio.c common/groupfile_read.c
NSS_OBJ  := $(NSS_SRC:%.c=$(B)/%.o)
TOOL_SRC := $(wildcard tool/*.c)
TOOL_OBJ := $(TOOL_SRC:%.c=$(B)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: deps all check unit valgrind fuzz bench demo install uninstall clean deb check-deb FORCE
all: $(B)/libmkio.a $(B)/libnss_mkio.so.2 $(B)/pam_mkio.so $(B)/mkio-login-helper \
     $(B)/mkio-login-refresh $(B)/mkio-orgs

$(B)/%.o: %.c $(wildcard common/*.h) $(wildcard nss/*.h) $(wildcard pam/*.h) $(wildcard tool/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libmkio.a: $(COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^

# The NSS module links nothing but libc (invariant 1) and exports only
# _nss_mkio_* (nss/nss_mkio.sym).
$(B)/libnss_mkio.so.2: $(NSS_OBJ) nss/nss_mkio.sym
	$(CC) -shared -Wl,-soname,libnss_mkio.so.2 -Wl,--version-script=nss/nss_mkio.sym \
	    -Wl,-z,defs $(HLDFLAGS) -o $@ $(NSS_OBJ)

# The NSS module's test build, never installed: the same reader, with the glue
# compiled with MK_GROUPFILE_TEST_OVERRIDE so that it takes its file from
# MKIO_GROUP_FILE. The NSS unit tests load it (tests/run-unit); the shipped
# module reads no environment variable (tests/run-all checks its symbols).
NSS_TEST_OBJ := $(B)/tests/nss/nss_mkio_test.o $(B)/common/groupfile_read.o
$(B)/tests/nss/nss_mkio_test.o: nss/nss_mkio.c $(wildcard common/*.h) $(wildcard nss/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DMK_GROUPFILE_TEST_OVERRIDE -c -o $@ $<
$(B)/tests/libnss_mkio_test.so.2: $(NSS_TEST_OBJ) nss/nss_mkio.sym
	$(CC) -shared -Wl,-soname,libnss_mkio_test.so.2 -Wl,--version-script=nss/nss_mkio.sym \
	    -Wl,-z,defs $(HLDFLAGS) -o $@ $(NSS_TEST_OBJ)
unit: $(B)/tests/libnss_mkio_test.so.2

# The PAM module links nothing but libc and libpam (invariant 2): the work of
# a login runs in the helper it starts.
PAM_OBJ := $(B)/pam/pam_mkio.o $(B)/common/text.o $(B)/common/passwd.o
$(B)/pam/pam_mkio.o: ALL_CFLAGS += -DMK_HELPER_PATH='"$(HELPER_PATH)"'
# The module is rebuilt when the helper's path changes (`make` then
# `make install PREFIX=/usr/local`): $(B)/helper-path holds the path it was
# built with and is rewritten only when that differs.
$(B)/pam/pam_mkio.o: $(B)/helper-path
$(B)/helper-path: FORCE
	@mkdir -p $(B)
	@echo '$(HELPER_PATH)' | cmp -s - $@ || echo '$(HELPER_PATH)' > $@
FORCE:
$(B)/pam_mkio.so: $(PAM_OBJ) pam/pam_mkio.sym
	$(CC) -shared -Wl,--version-script=pam/pam_mkio.sym -Wl,-z,defs $(HLDFLAGS) -o $@ \
	    $(PAM_OBJ) -lpam

# The login helper is two programs, one process (pam/login_helper.h): the
# gate mkio-login-helper links libc alone (no $(RUNTIME_LIBS): a common/
# object that needed libcurl or json-c would fail this link; tests/run-all
# checks its NEEDED), with config.c built without libcurl's URL parser;
# it execs mkio-login-refresh, which links everything, when there is work.
GATE_OBJ := $(B)/pam/login_gate.o $(B)/pam/login_common.o $(B)/gate/config.o \
            $(addprefix $(B)/common/,userstate.o storefile.o atomicfile.o tempname.o text.o \
                                     passwd.o mk_error.o log.o)
$(B)/pam/login_gate.o: ALL_CFLAGS += -DMK_REFRESH_PATH='"$(REFRESH_PATH)"'
$(B)/pam/login_gate.o: $(B)/refresh-path
$(B)/refresh-path: FORCE
	@mkdir -p $(B)
	@echo '$(REFRESH_PATH)' | cmp -s - $@ || echo '$(REFRESH_PATH)' > $@
$(B)/gate/config.o: common/config.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DMK_CONFIG_NO_CURL -c -o $@ $<
$(B)/mkio-login-helper: $(GATE_OBJ)
	$(CC) -pie $(HLDFLAGS) -o $@ $(GATE_OBJ)

$(B)/mkio-login-refresh: $(B)/pam/login_helper.o $(B)/pam/login_common.o $(B)/libmkio.a
	$(CC) -pie $(HLDFLAGS) -o $@ $(B)/pam/login_helper.o $(B)/pam/login_common.o $(B)/libmkio.a \
	    $(RUNTIME_LIBS)

$(B)/mkio-orgs: $(TOOL_OBJ) $(B)/libmkio.a
	$(CC) -pie $(HLDFLAGS) -o $@ $(TOOL_OBJ) $(B)/libmkio.a $(RUNTIME_LIBS)

$(B)/tests/test_%: tests/unit/test_%.c $(B)/libmkio.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -pie $(HLDFLAGS) -o $@ $< $(B)/libmkio.a \
	    $(RUNTIME_LIBS) -lcmocka -lpthread

# Small programs the tests and benchmarks drive (tests/tools/NAME.c).
TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS_BIN := $(TOOLS_SRC:tests/tools/%.c=$(B)/tests/tools/%)
$(B)/tests/tools/%: tests/tools/%.c $(B)/libmkio.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -pie $(HLDFLAGS) -o $@ $< $(B)/libmkio.a $(RUNTIME_LIBS) -lpam -lpthread

unit: $(UNIT_BIN) $(TOOLS_BIN)

# Installs the Debian packages that are missing (a no-op when none is).
deps:
	sh tests/install-deps

# The plain `make check` runs everything: all suites on the normal build, the
# unit and integration suites again on an ASan+UBSan build, and the unit tests
# under valgrind. `make check SAN=1` runs only the sanitizer part.
check: deps all unit
ifeq ($(SAN),)
	$(MAKE) SAN=1 all unit
	B=$(B) SAN_B=build-san VALGRIND=1 tests/run-all
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
install: all
	install -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/mkio $(DESTDIR)$(SYSCONFDIR)/mkio/tokens $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PAMCONFIGDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(COMPLETIONDIR)
	chmod 0700 $(DESTDIR)$(SYSCONFDIR)/mkio/tokens
	install -m 0644 $(B)/pam_mkio.so $(DESTDIR)$(PAMDIR)/pam_mkio.so
	install -m 0755 $(B)/mkio-login-helper $(DESTDIR)$(HELPER_PATH)
	install -m 0755 $(B)/mkio-login-refresh $(DESTDIR)$(REFRESH_PATH)
	install -m 0644 $(B)/libnss_mkio.so.2 $(DESTDIR)$(LIBDIR)/libnss_mkio.so.2
	install -m 0755 $(B)/mkio-orgs $(DESTDIR)$(BINDIR)/mkio-orgs
	test -e $(DESTDIR)$(SYSCONFDIR)/mkio/mkio.conf || \
	    install -m 0644 conf/mkio.conf $(DESTDIR)$(SYSCONFDIR)/mkio/mkio.conf
	for u in mkio-sync.service mkio-sync.timer; do \
	    sed $(UNIT_SED) conf/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
	    mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	grep -q '^ExecStart=$(BINDIR)/mkio-orgs ' $(DESTDIR)$(UNITDIR)/mkio-sync.service
	grep -q '^Documentation=.*file:$(DOCDIR)/README.md' $(DESTDIR)$(UNITDIR)/mkio-sync.service
	install -m 0644 conf/pam-configs/mkio $(DESTDIR)$(PAMCONFIGDIR)/mkio
	install -m 0644 conf/tmpfiles-mkio.conf $(DESTDIR)$(TMPFILESDIR)/mkio.conf
	install -m 0644 conf/apparmor/nameservice.d-mkio \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d/mkio
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 man/mkio-orgs.1 $(DESTDIR)$(MANDIR)/man1/mkio-orgs.1
	install -m 0644 man/mkio.conf.5 $(DESTDIR)$(MANDIR)/man5/mkio.conf.5
	install -m 0644 man/pam_mkio.8 man/nss-mkio.8 $(DESTDIR)$(MANDIR)/man8/
	ln -sf nss-mkio.8 $(DESTDIR)$(MANDIR)/man8/libnss_mkio.so.2.8
	install -m 0644 conf/bash-completion/mkio-orgs $(DESTDIR)$(COMPLETIONDIR)/mkio-orgs

# Removes what install put in place, except what an administrator made or
# changed: /etc/mkio (mkio.conf and the tokens) and the state in /var/lib/mkio
# are kept (remove them by hand). Take mkio out of nsswitch.conf and run
# `pam-auth-update --remove mkio` first: install changes neither, so neither
# does this.
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_mkio.so $(DESTDIR)$(HELPER_PATH) $(DESTDIR)$(REFRESH_PATH) \
	    $(DESTDIR)$(LIBDIR)/libnss_mkio.so.2 $(DESTDIR)$(BINDIR)/mkio-orgs \
	    $(DESTDIR)$(UNITDIR)/mkio-sync.service $(DESTDIR)$(UNITDIR)/mkio-sync.timer \
	    $(DESTDIR)$(PAMCONFIGDIR)/mkio $(DESTDIR)$(TMPFILESDIR)/mkio.conf \
	    $(DESTDIR)$(APPARMORDIR)/abstractions/nameservice.d/mkio $(DESTDIR)$(DOCDIR)/README.md \
	    $(DESTDIR)$(MANDIR)/man1/mkio-orgs.1 $(DESTDIR)$(MANDIR)/man5/mkio.conf.5 \
	    $(DESTDIR)$(MANDIR)/man8/pam_mkio.8 $(DESTDIR)$(MANDIR)/man8/nss-mkio.8 \
	    $(DESTDIR)$(MANDIR)/man8/libnss_mkio.so.2.8 $(DESTDIR)$(COMPLETIONDIR)/mkio-orgs
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

# The Debian packages (debian/), built in a copy of the tree; lintian must
# report no error and no warning.
deb:
	scripts/build-deb $(B)/deb

check-deb: deps
	tests/e2e/deb-e2e

clean:
	rm -rf build build-san build-fuzz
