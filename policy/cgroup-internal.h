/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of VM placement in cgroups: the backend vtable (cgroup v1 and
 * v2 through libcgroup, and an in-memory one for tests), the steps a
 * placement takes and undoes, and the state file kept for `--undo`.
 */
#ifndef NUMAKSM_CGROUP_INTERNAL_H
#define NUMAKSM_CGROUP_INTERNAL_H

#include "basic.h"
#include "numaksm/cgroup.h"
#include "numaksm/rundir.h"
#include "numaksm/vcpu.h"

/* At most two hierarchies: cpuset and memory on v1, the unified one on v2. */
#define CG_MAX_HIER 2

struct cg_ctx;

/* A file to write when a group is made: "cpuset.cpus" = "0-3". */
struct cg_value {
	const char *file;
	const char *value;
};

/*
 * A cgroup backend.  Paths (`rel`) are relative to a hierarchy's root ("" is
 * the root).  Changes go through libcgroup; reads through the nk_host root.
 */
struct cg_backend {
	const char *name;		   /* "v1", "v2" */
	bool per_thread;		   /* v1: the tasks file moves one thread at a time */
	bool copy_parent_cpuset;	   /* v1: a new cpuset starts with no CPUs and nodes */
	bool subtree_control;		   /* v2: controllers must be enabled in each parent */
	const char *cpus_file, *mems_file; /* the effective sets */
	const char *max_file, *high_file;  /* memory limits */
	const char *migrate_file;	   /* v1: cpuset.memory_migrate; NULL on v2 */

	/* Fill c->hier from the mounts; -ENOTSUP without cpuset or memory. */
	int (*init)(struct cg_ctx *c, nk_error **err);
	/* 1 when the directory exists, 0 when not, -errno. */
	int (*exists)(struct cg_ctx *c, unsigned h, const char *rel);
	int (*read)(struct cg_ctx *c, unsigned h, const char *rel, const char *file, char **ret,
		    nk_error **err);
	/* Make one directory (its parent exists) and write `values` into it. */
	int (*mkdir)(struct cg_ctx *c, unsigned h, const char *rel, const struct cg_value *values,
		     size_t n, nk_error **err);
	/* Remove an empty directory. */
	int (*rmdir)(struct cg_ctx *c, unsigned h, const char *rel, nk_error **err);
	int (*write)(struct cg_ctx *c, unsigned h, const char *rel, const char *file,
		     const char *value, nk_error **err);
	/* Move thread `tid` (per_thread) or process `tid` into `rel`. */
	int (*attach)(struct cg_ctx *c, unsigned h, const char *rel, int tid, nk_error **err);
	/* The threads of `pid`, and where thread `tid` is in each hierarchy. */
	int (*tasks)(struct cg_ctx *c, int pid, int **ret_tids, size_t *ret_n, nk_error **err);
	int (*task_paths)(struct cg_ctx *c, int pid, int tid, char *ret_paths[CG_MAX_HIER],
			  nk_error **err);
	/* Threads' affinities and page migration (system calls). */
	int (*get_affinity)(struct cg_ctx *c, int tid, nk_bitmap **ret, nk_error **err);
	int (*set_affinity)(struct cg_ctx *c, int tid, const nk_bitmap *cpus, nk_error **err);
	int (*migrate)(struct cg_ctx *c, int pid, const nk_bitmap *from, const nk_bitmap *to,
		       uint64_t *ret_not_moved, nk_error **err);
};

struct cg_hier {
	char *controller; /* "cpuset", "memory"; "" for the unified hierarchy */
	char *mount;
};

struct cg_ctx {
	nk_host *host;
	const struct cg_backend *be;
	struct cg_hier hier[CG_MAX_HIER];
	unsigned n_hier;
	void *data; /* the backend's own */
};

extern const struct cg_backend cg_backend_v1, cg_backend_v2;

/* Choose and initialise the backend for this host. */
int cg_ctx_open(nk_host *host, struct cg_ctx *ret, nk_error **err);
void cg_ctx_done(struct cg_ctx *c);

/* ---- the state kept for --undo ---------------------------------------------- */

struct cg_thread {
	int tid;
	char *paths[CG_MAX_HIER]; /* where it was in each hierarchy */
	nk_bitmap *affinity;	  /* its affinity before */
};

struct cg_state {
	int pid;
	uint64_t start_time;
	char *boot_id;
	char *name;
	char *backend;
	char *group; /* parent/name below each hierarchy's root */
	unsigned n_hier;
	char *hier[CG_MAX_HIER]; /* controller of each hierarchy */
	struct cg_thread *threads;
	size_t n_threads;
	bool pinned; /* entered in pins.json */
};

void cg_state_done(struct cg_state *s);
/* Text of place-PID.json and back; parse is -EINVAL on malformed text. */
int cg_state_format(const struct cg_state *s, char **ret_text);
int cg_state_parse(const char *text, struct cg_state *ret, nk_error **err);

/* The runtime directory, locked for one placement or undo at a time. */
struct cg_store {
	nk_rundir *dir;
	int lock_fd;
};
int cg_store_open(const char *dir, struct cg_store *ret, nk_error **err);
void cg_store_close(struct cg_store *store);
/* Read the state of `pid`: -ENOENT when there is none. */
int cg_store_load(struct cg_store *store, int pid, struct cg_state *ret, nk_error **err);
/* Find a state by the name the VM was placed under: -ENOENT, -ENOTUNIQ. */
int cg_store_find(struct cg_store *store, const char *name, struct cg_state *ret, nk_error **err);
int cg_store_save(struct cg_store *store, const struct cg_state *s, nk_error **err);
int cg_store_remove(struct cg_store *store, int pid);
/* The parents numaksm made ("H:rel"): kept so an undo can remove them once empty. */
int cg_store_parents(struct cg_store *store, char ***ret, nk_error **err);
int cg_store_set_parents(struct cg_store *store, char **parents, nk_error **err);

/* ---- placing, with a backend given (tests use their own) --------------------- */

/* What placement reads about the VM before it changes anything. */
struct cg_vm {
	int pid;
	uint64_t start_time;
	const char *name;
	uint64_t rss_bytes; /* charged to memory cgroups: hugetlb pages excluded */
	const struct nk_proc_cgroup *cgroups;
	size_t n_cgroups;
};

/* The allowed sets the hierarchy offers a group under `parent`, and the
 * nodes with memory and online CPUs of the host. */
struct cg_limits {
	const nk_bitmap *online_cpus;
	const nk_bitmap *memory_nodes;
};

/* vCPU pinning inside the group, planned before anything changes. */
struct cg_pin {
	nk_host *host;
	const struct nk_vm_ref *vm;
	struct nk_vm_threads threads; /* vcpu_count 0: none found, nothing to pin */
	nk_topo *topo;
	nk_pin_plan *plan;
	nk_pin_state *state; /* opened for writing */
};

/* Check a request against the host and the parent's sets, changing nothing. */
int cg_check(struct cg_ctx *c, const struct cg_vm *vm, const struct nk_cgroup_request *req,
	     const nk_bitmap *cpus, const struct cg_limits *limits, struct cg_store *store,
	     nk_error **err);

/* Place `vm` in `req`'s group with `cpus` (resolved), pinning through `pin`
 * (NULL: none); on failure undo every step. */
int cg_place(struct cg_ctx *c, const struct cg_vm *vm, const struct nk_cgroup_request *req,
	     const nk_bitmap *cpus, const struct cg_limits *limits, struct cg_pin *pin,
	     struct cg_store *store, struct nk_cgroup_report *report, nk_error **err);
int cg_undo(struct cg_ctx *c, struct cg_state *s, bool alive, struct cg_store *store,
	    struct nk_cgroup_report *report, nk_error **err);

/* A group or parent path: components of [A-Za-z0-9._-], no "." or "..". */
bool cg_valid_path(const char *path, bool single);
/* Make a VM name into a group name: other characters become '_'. */
int cg_group_name(const char *vm_name, char **ret);
/* Whether a cgroup path is libvirt's (machine.slice, /machine/). */
bool cg_is_libvirt(const char *path);

#endif
