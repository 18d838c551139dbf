/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest program's flat image (guest/guest.c, built by CMake), between
 * vmm_guest_start and vmm_guest_end. */
__asm__(".section .rodata\n"
	".balign 16\n"
	".globl vmm_guest_start\n"
	"vmm_guest_start:\n"
	".incbin \"" NUMAKSM_GUEST_BIN "\"\n"
	".globl vmm_guest_end\n"
	"vmm_guest_end:\n"
	".previous\n");
