/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm-vmm's control requests (vmm_control_handle): one JSON object per
 * packet on the VM's socket.  The VM is real but for KVM: two zones mapped
 * on this host, two vCPUs that never ran, as test-vmm-config drives it.
 * Every request gets one reply, a JSON object of the protocol's version
 * that either carries a result or an errno and a message; only a stop
 * asks the VMM to stop.
 */
#include <json-c/json.h>

#include "fuzz.h"
#include "vmm.h"

static struct vmm_config cfg;
static struct vmm vmm = {.cfg = &cfg, .kvm_fd = -1, .vm_fd = -1, .event_fd = -1, .listen_fd = -1};

static void setup(void)
{
	char *argv[] = {"numaksm-vmm",
			"--name",
			"fuzz",
			"--memory-zone",
			"id=a,size=8M,prefault=off,mergeable=on",
			"--memory-zone",
			"id=b,size=2M,prefault=off",
			"--cpus",
			"2",
			"--workload",
			"size=1M",
			NULL};
	nk_error *err = NULL;

	vmm_config_init(&cfg);
	if (vmm_config_parse(&cfg, (int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, &err) < 0 ||
	    vmm_layout_compute(&cfg, &vmm.layout, &err) < 0 ||
	    nk_host_open(NULL, &vmm.host, &err) < 0)
		goto fail;
	vmm.zones = calloc(cfg.n_zones, sizeof(*vmm.zones));
	vmm.vcpus = calloc(cfg.vcpus, sizeof(*vmm.vcpus));
	if (!vmm.zones || !vmm.vcpus)
		abort();
	for (size_t i = 0; i < cfg.n_zones; i++) {
		if (nk_zone_create(vmm.host, &cfg.zones[i].spec, &vmm.zones[i].zone, &err) < 0)
			goto fail;
		vmm.zones[i].gpa = cfg.zones[i].gpa;
		vmm.n_zones = i + 1;
	}
	vmm.n_vcpus = cfg.vcpus;
	for (unsigned i = 0; i < vmm.n_vcpus; i++)
		vmm.vcpus[i] = (struct vmm_vcpu){.vmm = &vmm, .id = i, .fd = -1};
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_cond_init(&vmm.cond, NULL);
	return;
fail:
	fprintf(stderr, "cannot set up the VM: %s\n", err ? nk_error_message(err) : "?");
	exit(1);
}

static void check_reply(const char *request, size_t len, const char *reply, bool stop)
{
	json_object *o = reply ? json_tokener_parse(reply) : NULL, *v, *ok;

	FUZZ_CHECK(o && json_object_is_type(o, json_type_object), "reply '%s'",
		   reply ? reply : "(none)");
	FUZZ_CHECK(json_object_object_get_ex(o, "version", &v) &&
		       json_object_get_int(v) == NK_VMM_PROTOCOL_VERSION &&
		       json_object_object_get_ex(o, "ok", &ok) &&
		       json_object_is_type(ok, json_type_boolean),
		   "reply '%s'", reply);
	if (json_object_get_boolean(ok)) {
		FUZZ_CHECK(json_object_object_get_ex(o, "result", &v) &&
			       json_object_is_type(v, json_type_object),
			   "a success without a result: '%s'", reply);
	} else {
		FUZZ_CHECK(json_object_object_get_ex(o, "errno", &v) &&
			       json_object_get_int(v) > 0 &&
			       json_object_object_get_ex(o, "error", &v) &&
			       json_object_get_string_len(v) > 0,
			   "an error without errno and message: '%s'", reply);
		FUZZ_CHECK(!stop, "'%.*s' refused, but stops the VM", (int)len, request);
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The packet as received: its bytes only, no terminator. */
	_cleanup_free_ char *request = malloc(size ? size : 1);
	unsigned flags = ~0u;

	if (!request)
		abort();
	memcpy(request, data, size);
	_cleanup_free_ char *reply = vmm_control_handle(&vmm, request, size, &flags);
	FUZZ_CHECK(!(flags & ~(unsigned)(VMM_REQUEST_STOP | VMM_REQUEST_LATER)), "flags %#x",
		   flags);
	if (flags & VMM_REQUEST_LATER) {
		/* A migration started: its reply comes when the worker ends. */
		FUZZ_CHECK(!reply && vmm_migration_busy(&vmm),
			   "'%.*s' answered at once, yet waits for a migration", (int)size,
			   request);
		char *later = NULL;
		while (!vmm_migration_reap(&vmm, false, &later))
			usleep(1000);
		FUZZ_CHECK(later, "'%.*s': no reply when the migration ended", (int)size, request);
		check_reply(request, size, later, false);
		free(later);
	} else {
		check_reply(request, size, reply, flags & VMM_REQUEST_STOP);
	}
	/* A stop is answered; the VM here goes on for the next request. */
	pthread_mutex_lock(&vmm.lock);
	vmm.pause_requested = vmm.stop_requested = false;
	pthread_mutex_unlock(&vmm.lock);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setup();
	return 0;
}
