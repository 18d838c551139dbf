/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm internals: the configuration from the command line, the guest
 * physical layout computed from it, and the running VM.
 */
#ifndef NUMAKSM_VMM_H
#define NUMAKSM_VMM_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "boot.h"
#include "guest-abi.h"
#include "numaksm/cleanup.h"
#include "numaksm/core.h"
#include "numaksm/vmm.h"
#include "numaksm/memory.h"
#include "numaksm/vcpu.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define VMM_STRINGIFY_(x) #x
#define VMM_STRINGIFY(x)  VMM_STRINGIFY_(x)
#define VMM_MSG_MAX	  (256 * 1024)

/* ---- configuration (config.c) ----------------------------------------- */

struct vmm_zone_cfg {
	struct nk_zone_spec spec;
	uint64_t gpa; /* set by the layout unless given */
	bool gpa_given;
	unsigned guest_node;
};

struct vmm_numa_cfg {
	unsigned guest_node;
	unsigned first_vcpu, n_vcpus;
	char **zones; /* zone ids */
};

struct vmm_load_cfg {
	char *path;
	uint64_t gpa;
	uint64_t size_bytes; /* the file's size, read at parse time */
};

/* Page content and how much of the free guest RAM it covers. */
struct vmm_content_cfg {
	bool set;
	struct nkg_content content;
	uint64_t size_bytes; /* 0: all the free guest RAM */
};

struct vmm_workload_cfg {
	struct vmm_content_cfg c;
	enum nkg_mode mode;
	uint32_t passes;
	uint32_t period_ms;
	bool verify;
};

#define VMM_STOP_TIMEOUT_DEFAULT 10 /* seconds */
#define VMM_STOP_TIMEOUT_MAX	 3600

struct vmm_config {
	char *name;
	struct vmm_zone_cfg *zones;
	size_t n_zones;
	struct vmm_numa_cfg *numa;
	size_t n_numa;
	unsigned vcpus;
	unsigned threads_per_core;
	enum nk_pin_policy pin_policy;
	enum nk_pin_smt pin_smt;
	bool pin;
	struct vmm_load_cfg *loads;
	size_t n_loads;
	struct vmm_content_cfg fill;
	struct vmm_workload_cfg workload;
	bool hold;
	bool force; /* map zones larger than what their nodes can give now */
	bool json;
	char *runtime_dir;
	/* A Linux guest (--kernel) instead of the built-in program. */
	char *kernel, *initrd, *cmdline;
	bool cpuid_pv;		 /* KVM's paravirtual CPUID leaves (0x40000000..) shown */
	unsigned stop_timeout_s; /* stop: how long a Linux guest has to power off */
	bool stop_timeout_set;
	enum nk_vmm_console_mode console;
	char *console_path; /* file: and socket:, absolute */
	bool console_set;
	unsigned boot_timeout_s; /* 0: none */
	char *kernel_cache;	 /* --kernel-cache DIR; NULL: the default */
	bool kernel_inflate;	 /* false: --kernel-cache off, the decompressor boots */
};

void vmm_config_init(struct vmm_config *cfg);
void vmm_config_done(struct vmm_config *cfg);
/* Parse the command line (argv[0] is the program).  @return 0; 1 when
 * --help was printed; -EINVAL with the reason. */
int vmm_config_parse(struct vmm_config *cfg, int argc, char **argv, nk_error **err);
/* Parse "size=..,zero=..,shared=..,seed=.." (and, for a workload, mode,
 * passes, period, redirty, verify) into `c` / `w`. */
int vmm_content_parse(const char *text, const char *option, struct vmm_content_cfg *c,
		      struct vmm_workload_cfg *w, nk_error **err);
void vmm_usage(FILE *out);

/* ---- layout (layout.c) ------------------------------------------------ */

struct vmm_layout {
	uint64_t gpa_end; /* highest zone end */
	uint64_t tss_gpa; /* 4 free pages below 4 GiB for KVM on Intel (0: none) */
	unsigned n_guest_nodes;
	struct nkg_work work[NKG_MAX_VCPUS];	  /* the workload's pages per vCPU */
	struct nkg_work fill_work[NKG_MAX_VCPUS]; /* the host fill's pages per vCPU */
	uint64_t work_pages, fill_pages;
};

/* Place the zones, check zones, loads and guest nodes against each other
 * and the address space, and share the free pages among the vCPUs.  Sets
 * cfg->zones[].gpa.  @return 0; -EINVAL/-ERANGE naming the conflict. */
int vmm_layout_compute(struct vmm_config *cfg, struct vmm_layout *ret, nk_error **err);
/* The identity map of [0, gpa_end) with 2 MiB pages, written at
 * `pt` (the host address of guest NKG_PT_GPA), only over the zones. */
void vmm_layout_page_tables(const struct vmm_config *cfg, uint64_t gpa_end, void *pt);
/* The GDT with a 64-bit code and a data segment. */
void vmm_layout_gdt(void *gdt);
/* The host node guest node `g`'s memory is on: the first node of its first
 * zone's policy, when the policy names nodes; else -1. */
int vmm_guest_node_host(const struct vmm_config *cfg, unsigned g);

/* ---- a Linux guest (linux.c) ------------------------------------------ */

/* The ACPI description of the guest: which node each vCPU and zone is in,
 * and the distances between the guest nodes. */
struct vmm_guest_numa {
	unsigned cpu_node[NKG_MAX_VCPUS];
	struct vmm_acpi_mem mem[32];
	uint8_t distance[NKG_MAX_VCPUS * NKG_MAX_VCPUS];
	struct vmm_acpi_spec spec; /* pointing into the above */
};

/* From the configuration and its layout; SLIT distances are those between
 * the host nodes the guest nodes' zones are bound to (`topo`, may be
 * NULL), or 10/20 where a node is not bound.  @return 0; -EINVAL. */
int vmm_guest_numa_build(const struct vmm_config *cfg, const struct vmm_layout *l,
			 const nk_topo *topo, struct vmm_guest_numa *ret, nk_error **err);

/* The kernel, initrd and command line, read and placed before anything is
 * created. */
struct vmm_linux {
	void *kernel_file; /* the bzImage, malloc'ed, until it is in guest RAM */
	struct vmm_bzimage image;
	uint8_t *vmlinux_file; /* its vmlinux, inflated or from the cache; NULL: boot the bzImage */
	size_t vmlinux_size;
	bool vmlinux_cached; /* mapped from the cache (vmm_vmlinux_put()) */
	struct vmm_vmlinux vmlinux;
	char boot_note[512]; /* how the kernel is booted, for the log */
	struct vmm_e820 e820;
	struct vmm_boot_plan plan;
	const char *cmdline;
};

int vmm_linux_prepare(const struct vmm_config *cfg, struct vmm_linux *ret, nk_error **err);
void vmm_linux_done(struct vmm_linux *lx);

/* ---- the running VM (kvm.c, control.c, main.c) ------------------------ */

/* What a Linux guest's exits to numaksm-vmm were for (each costs a round
 * trip through the host kernel; the log sums them at the end). */
enum vmm_exit_kind {
	VMM_EXIT_SERIAL = 0,
	VMM_EXIT_PM_TIMER,
	VMM_EXIT_ACPI, /* PM1 event and control, reset */
	VMM_EXIT_RTC,
	VMM_EXIT_OTHER_IO, /* ports with nothing behind them */
	VMM_EXIT_MMIO,
	VMM_EXIT_KINDS,
};

enum vmm_vcpu_state {
	VCPU_CREATED = 0,
	VCPU_RUNNING,
	VCPU_PAUSED,
	VCPU_HALTED,
	VCPU_FAILED,
};

struct vmm;

struct vmm_vcpu {
	struct vmm *vmm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool thread_started;
	pid_t tid;
	nk_bitmap *cpus; /* from the plan; NULL when not pinned */
	bool pin_verified;
	enum vmm_vcpu_state state;
	bool parked; /* waiting while paused */
	struct nkg_mailbox last;
	uint64_t passes_done, verified_pages, verify_errors, first_bad_gpa;
	uint64_t pass_checksum, verify_checksum;
	uint64_t io_exits;
	uint64_t exits[VMM_EXIT_KINDS]; /* a Linux guest's, by kind */
	char *error;
};

struct vmm_zone {
	nk_zone *zone;
	uint64_t gpa;
};

enum vmm_migration_state {
	VMM_MIGRATION_NONE = 0, /* none since the VM started */
	VMM_MIGRATION_RUNNING,
	VMM_MIGRATION_DONE,
	VMM_MIGRATION_FAILED,
	VMM_MIGRATION_STOPPED, /* the VM stopped before it was done */
};

/* The running or last migration (migrate.c).  The worker writes the
 * progress, state and error under vmm->lock; the rest is the loop's. */
struct vmm_migration {
	enum vmm_migration_state state;
	nk_zone_move *move;
	const char *zone_id;
	nk_bitmap *nodes;
	pthread_t thread;
	bool thread_started; /* until joined */
	bool stop;	     /* the worker stops at the next chunk */
	bool finished;	     /* the worker is done: join it */
	struct nk_migration so_far;
	uint64_t done_bytes, total_bytes, page_size;
	int error_code;
	char *error;
};

struct vmm {
	struct vmm_config *cfg;
	struct vmm_layout layout;
	nk_host *host;
	nk_topo *topo;
	nk_pin_plan *plan;
	struct vmm_zone *zones;
	size_t n_zones;
	int kvm_fd, vm_fd;
	struct vmm_vcpu *vcpus;
	unsigned n_vcpus;
	uint64_t fill_pages_written;
	double fill_seconds;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* state changes, pause/resume/stop */
	bool pause_requested, stop_requested;
	bool go;			   /* vCPUs may enter the guest */
	int event_fd;			   /* vCPU threads -> main loop */
	nk_vmm_registration *registration; /* the name, the registry entry, the socket */
	int listen_fd;			   /* control socket (the registration's) */
	const char *socket_path;	   /* the registration's */
	bool pins_saved;
	double begun_at, started_at; /* main() entered; the vCPUs started */
	struct vmm_migration migration;

	/* A Linux guest: its boot, serial port, power state and RTC. */
	struct vmm_linux linux_boot;
	struct vmm_serial *serial;
	bool powered_off, rebooted; /* under lock */
	struct vmm_acpi_pm1 pm1;    /* under lock, with the SCI's level */
	bool sci_level;
	struct vmm_rtc rtc;	/* under lock */
	double power_button_at; /* stop: when the button was pressed (0: not) */
	bool stuck;		/* stopped for want of an end: log where the vCPUs were */
};

/* kvm.c */
int vmm_kvm_open(struct vmm *vmm, nk_error **err);
int vmm_kvm_create(struct vmm *vmm, nk_error **err);
int vmm_vcpus_start(struct vmm *vmm, nk_error **err);
void vmm_vcpus_stop(struct vmm *vmm);
/* A stopped vCPU's RIP, RFLAGS, CR0, CR3 and run state (free it), or NULL. */
char *vmm_vcpu_where(const struct vmm_vcpu *v);
void vmm_kvm_close(struct vmm *vmm);
int vmm_pause(struct vmm *vmm, bool pause);
/* Host address of guest physical `gpa` for `len` bytes, or NULL. */
void *vmm_gpa_to_host(const struct vmm *vmm, uint64_t gpa, uint64_t len);
bool vmm_all_stopped(struct vmm *vmm); /* every vCPU halted or failed */

/* linux.c: guest RAM set up for the kernel (after the zones, before the
 * vCPUs), the I/O the guest does, and whether it has ended. */
int vmm_linux_setup(struct vmm *vmm, nk_error **err);
/* An I/O exit of a Linux guest's vCPU.  @return false when the vCPU stops
 * (the guest powered off or reset). */
bool vmm_linux_io(struct vmm_vcpu *v);
void vmm_linux_mmio(struct vmm_vcpu *v);
/* The serial port and its console (--console), made by vmm_linux_setup;
 * vmm_linux_close closes and removes it. */
int vmm_linux_console_open(struct vmm *vmm, nk_error **err);
/* The console's file descriptors for poll(): fds[0] the serial port's
 * input (stdin, the pty, the socket's client), fds[1] the console socket
 * while it waits for a client (fd -1: nothing to poll).  Then, after
 * poll(), read what the input has for the guest and take a new client. */
#define VMM_CONSOLE_FDS 2
struct pollfd;
void vmm_linux_console_poll(struct vmm *vmm, struct pollfd *fds);
void vmm_linux_console_events(struct vmm *vmm, const struct pollfd *fds);
/* The console's pty, file or socket (NULL: stdio, or no Linux guest). */
const char *vmm_linux_console_path(struct vmm *vmm);
/* Whether the guest has written a byte to its console. */
bool vmm_linux_console_written(struct vmm *vmm);
/* Press the guest's ACPI power button.  @return whether the guest
 * listens to it (has enabled the event). */
bool vmm_linux_power_button(struct vmm *vmm);
/* Whether the guest powered off, reset or failed, and which (*ret_how). */
bool vmm_linux_ended(struct vmm *vmm, const char **ret_how);
/* How many exits the guest made, by kind: read once its vCPUs stopped. */
void vmm_linux_exits(const struct vmm *vmm, uint64_t n[VMM_EXIT_KINDS]);
void vmm_linux_close(struct vmm *vmm);

/* fill.c */
/* Read `size` bytes of `path` into `dst` (`what`: the option, for messages). */
int vmm_read_file(const char *what, const char *path, void *dst, uint64_t size, nk_error **err);
int vmm_load_files(struct vmm *vmm, nk_error **err);
int vmm_fill(struct vmm *vmm, nk_error **err);

/* control.c */
int vmm_control_open(struct vmm *vmm, nk_error **err);
void vmm_control_close(struct vmm *vmm);
/* What the control loop does after a request. */
enum {
	VMM_REQUEST_STOP = 1 << 0,  /* stop the VM */
	VMM_REQUEST_LATER = 1 << 1, /* the reply comes when the migration ends */
};
/* Largest node number a request may name: Linux has fewer nodes (1024 at
 * most), and a list is refused at the first number above it. */
#define VMM_NODE_MAX 1023
/* Handle one request (text) into a reply (allocated JSON text), or NULL
 * with VMM_REQUEST_LATER in *ret_flags. */
char *vmm_control_handle(struct vmm *vmm, const char *request, size_t len, unsigned *ret_flags);
/* Replies: {"version":2,"ok":true,"result":...} (takes `result`; NULL: {}),
 * and {"version":2,"ok":false,"errno":N,"error":"...","hint":"..."}. */
char *vmm_reply_ok(json_object *result);
char *vmm_reply_error(int code, const char *msg, const char *hint);
/* Print the VM's description (zones, vCPUs, guest progress, KSM) on stdout
 * as the `numaksm-vmm` document of docs/json.md. */
void vmm_info_print(struct vmm *vmm);
const char *vmm_vcpu_state_name(enum vmm_vcpu_state state);

/* migrate.c */
/* Start moving `zone` to `nodes` in a worker (checks and binds first).
 * @return 0; -errno with the reason, nothing started. */
int vmm_migration_start(struct vmm *vmm, nk_zone *zone, const nk_bitmap *nodes, nk_error **err);
/* Whether a worker runs (or has ended and is not joined yet). */
bool vmm_migration_busy(struct vmm *vmm);
/* Join the worker if it ended, or, with `stop`, stop it at its next chunk
 * and join it; end the move.  @return whether it was joined, with the
 * reply for the client that asked in *ret_reply (may be NULL). */
bool vmm_migration_reap(struct vmm *vmm, bool stop, char **ret_reply);
/* Stop and join any worker, and free the record (the VM's end). */
void vmm_migration_done(struct vmm *vmm);
/* The info's "migration": the running or last one, or NULL. */
json_object *vmm_migration_json(struct vmm *vmm);

#endif
