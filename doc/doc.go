// SPDX-License-Identifier: GPL-2.0-or-later

// Package doc holds the manual pages; it has no Go code, only the pages and
// the tests that keep them complete and clean.
//
// Theory of operation. passt.1 documents both programs, as upstream's page
// does; pasta.1 is a one-line roff source request (.so man1/passt.1), which
// man(1) follows and which Debian's tools turn into a symbolic link. Every
// option has a .TP entry in the OPTIONS section whose tag names it in the
// form \fB\-x\fR, \fB\-\-long\fR; the test reads the option table of
// conf/options.go (the short option string and the long option list, with
// go/parser, so the table stays the single source) and fails when an option
// has no entry or an entry names an option the table does not have. A second
// test renders both pages with man --warnings -l and fails on any warning
// from groff.
package doc
