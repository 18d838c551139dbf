/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A program that changes KSM's knobs as a benchmark does: it owns them
 * (nk_ksm_own()), has them put back on SIGTERM, SIGINT and SIGHUP
 * (nk_ksm_owner_restore_on_signals()), writes KEY=VALUE..., prints "ready"
 * and waits to be signalled.
 *
 * Usage: test-ksm-owner [KEY=VALUE...]  (none: only hold the ownership, so
 *        that no tuner or benchmark changes KSM while a test does)
 */
#include <stdio.h>
#include <unistd.h>

#include <numaksm/core.h>
#include <numaksm/ksm.h>

int main(int argc, char **argv)
{
	nk_host *host = NULL;
	nk_ksm_owner *owner = NULL;
	nk_error *err = NULL;
	struct nk_ksm want = {0};

	for (int i = 1; i < argc; i++)
		if (nk_ksm_parse(argv[i], &want, &err) < 0)
			goto fail;
	if (nk_host_open(NULL, &host, &err) < 0 ||
	    nk_ksm_own(host, NULL, "test-ksm-owner", want.mask, &owner, &err) < 0)
		goto fail;
	nk_ksm_owner_restore_on_signals(owner);
	if (nk_ksm_apply(host, &want, 0, NULL, &err) < 0)
		goto fail;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
fail:
	fprintf(stderr, "test-ksm-owner: %s\n", nk_error_message(err));
	nk_ksm_owner_release(owner, true, NULL);
	return 1;
}
