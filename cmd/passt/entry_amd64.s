// SPDX-License-Identifier: GPL-2.0-or-later

#include "textflag.h"

// pastaEntry is the ELF entry point (linked with -ldflags=-E=main.pastaEntry).
// It runs before the Go runtime, while the process still has one thread: the
// only moment a process may join an existing user namespace. If argv[0] is
// exactly "@pjoinus", it joins the user namespace open at descriptor 3 and
// unshares mount, UTS and IPC namespaces (then owned by that user namespace);
// if argv[0] is exactly "@pnewusr", it moves into a new user namespace,
// with new mount, UTS and IPC namespaces owned by it for the sandbox (passt
// in the foreground, which is not re-executed as a child);
// otherwise, and after that, it continues into the Go runtime's own entry.
// Failure exits before anything else runs: a failed setns with status 64
// plus its errno, a failed unshare with status 255 (see package lifecycle,
// which turns these into messages).
TEXT ·pastaEntry(SB),NOSPLIT|NOFRAME,$0
	MOVQ	0(SP), AX		// argc
	CMPQ	AX, $1
	JLT	start
	MOVQ	8(SP), SI		// argv[0]
	MOVQ	0(SI), BX
	MOVB	8(SI), DX		// exactly 8 characters
	CMPB	DX, $0
	JNE	start
	MOVQ	$0x72737577656e7040, CX	// "@pnewusr", little endian
	CMPQ	BX, CX
	JEQ	newuser
	MOVQ	$0x73756e696f6a7040, CX	// "@pjoinus", little endian
	CMPQ	BX, CX
	JNE	start
	MOVQ	$308, AX		// setns(3, CLONE_NEWUSER)
	MOVQ	$3, DI
	MOVQ	$0x10000000, SI
	SYSCALL
	CMPQ	AX, $0
	JNE	setnsfail
	MOVQ	$272, AX		// unshare(CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC)
	MOVQ	$0x0C020000, DI
	SYSCALL
	CMPQ	AX, $0
	JEQ	start
	MOVQ	$231, AX		// exit_group(255): unshare failed
	MOVQ	$255, DI
	SYSCALL
newuser:
	MOVQ	$272, AX		// unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC)
	MOVQ	$0x1C020000, DI
	SYSCALL
	CMPQ	AX, $0
	JEQ	start
	JMP	setnsfail
setnsfail:
	NEGQ	AX			// errno
	ADDQ	$64, AX
	MOVQ	AX, DI			// exit_group(64 + errno)
	MOVQ	$231, AX
	SYSCALL
start:
	JMP	_rt0_amd64_linux(SB)
