// SPDX-License-Identifier: GPL-2.0-or-later

#include "textflag.h"

// func sumWordsLE(b []byte) uint64
//
// Sums the little-endian 16-bit words of b (len(b) a multiple of 32) in
// the eight 32-bit lanes of two AVX2 accumulators: the low word of each
// 32-bit lane goes to Y0 (masked), the high word to Y1 (shifted down).
// 64 bytes per iteration add at most 2*0xffff to a lane, so a lane holds
// 2^15 iterations (2 MiB) before it could overflow; the caller passes at
// most 1 MiB. The sixteen lanes are then added up as 64-bit numbers.
TEXT ·sumWordsLE(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPCMPEQD Y15, Y15, Y15
	VPSRLD $16, Y15, Y15 // 0x0000ffff in every lane

	CMPQ CX, $64
	JB   tail

loop64:
	VMOVDQU (SI), Y2
	VMOVDQU 32(SI), Y3
	VPAND   Y15, Y2, Y4
	VPSRLD  $16, Y2, Y2
	VPAND   Y15, Y3, Y5
	VPSRLD  $16, Y3, Y3
	VPADDD  Y4, Y0, Y0
	VPADDD  Y2, Y1, Y1
	VPADDD  Y5, Y0, Y0
	VPADDD  Y3, Y1, Y1
	ADDQ    $64, SI
	SUBQ    $64, CX
	CMPQ    CX, $64
	JAE     loop64

tail:
	CMPQ CX, $32
	JB   done
	VMOVDQU (SI), Y2
	VPAND   Y15, Y2, Y4
	VPSRLD  $16, Y2, Y2
	VPADDD  Y4, Y0, Y0
	VPADDD  Y2, Y1, Y1

done:
	// Widen the sixteen 32-bit lanes to 64 bits (interleaved with zeros)
	// and add them up.
	VPXOR      Y14, Y14, Y14
	VPUNPCKLDQ Y14, Y0, Y2
	VPUNPCKHDQ Y14, Y0, Y3
	VPUNPCKLDQ Y14, Y1, Y4
	VPUNPCKHDQ Y14, Y1, Y5
	VPADDQ     Y3, Y2, Y2
	VPADDQ     Y5, Y4, Y4
	VPADDQ     Y4, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ     X3, X2, X2
	VPSHUFD    $0x4e, X2, X3
	VPADDQ     X3, X2, X2
	VMOVQ      X2, AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
