/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket's migrate, in a worker thread: the control loop starts
 * it (nk_zone_move_start: the nodes are checked and the zone bound to them
 * there, so a refusal is immediate), the worker moves the zone 64 MiB at a
 * time (nk_zone_move_step), publishing its progress under vmm->lock and
 * looking at a stop flag between chunks, and wakes the loop through
 * vmm->event_fd when it ends.  The loop then joins it and ends the move
 * (nk_zone_move_end writes the zone's spec, which only the loop reads), and
 * answers the client that asked.  One migration at a time.
 */
#include <sys/eventfd.h>
#include <time.h>

#include "json.h"
#include "vmm.h"

static const char *const state_names[] = {
    [VMM_MIGRATION_NONE] = "none",	 [VMM_MIGRATION_RUNNING] = "running",
    [VMM_MIGRATION_DONE] = "done",	 [VMM_MIGRATION_FAILED] = "failed",
    [VMM_MIGRATION_STOPPED] = "stopped",
};

static void *worker(void *arg)
{
	struct vmm *vmm = arg;
	struct vmm_migration *mg = &vmm->migration;
	nk_error *e = NULL;
	bool stop;
	int r;

	do {
		r = nk_zone_move_step(mg->move, &e);
		pthread_mutex_lock(&vmm->lock);
		nk_zone_move_progress(mg->move, &mg->so_far, &mg->done_bytes, &mg->total_bytes);
		stop = mg->stop;
		pthread_mutex_unlock(&vmm->lock);
	} while (r > 0 && !stop);

	pthread_mutex_lock(&vmm->lock);
	if (r < 0) {
		mg->state = VMM_MIGRATION_FAILED;
		mg->error_code = -r;
		mg->error = strdup(nk_error_message(e));
	} else if (r > 0) {
		mg->state = VMM_MIGRATION_STOPPED;
		mg->error_code = ECANCELED;
		if (asprintf(&mg->error,
			     "the VM is stopping: the migration of zone %s stopped after %llu of "
			     "%llu MiB",
			     mg->zone_id, (unsigned long long)(mg->done_bytes >> 20),
			     (unsigned long long)(mg->total_bytes >> 20)) < 0)
			mg->error = NULL;
	} else {
		mg->state = VMM_MIGRATION_DONE;
	}
	mg->finished = true;
	pthread_mutex_unlock(&vmm->lock);
	nk_error_free(e);
	if (vmm->event_fd >= 0)
		(void)eventfd_write(vmm->event_fd, 1);
	return NULL;
}

bool vmm_migration_busy(struct vmm *vmm)
{
	return vmm->migration.thread_started;
}

int vmm_migration_start(struct vmm *vmm, nk_zone *zone, const nk_bitmap *nodes, nk_error **err)
{
	struct vmm_migration *mg = &vmm->migration;
	nk_zone_move *move = NULL;
	nk_bitmap *copy = nk_bitmap_dup(nodes);

	if (!copy)
		return nk_error_set(err, ENOMEM, "out of memory");
	int r = nk_zone_move_start(zone, nodes, &move, err);
	if (r < 0) {
		nk_bitmap_free(copy);
		return r;
	}
	pthread_mutex_lock(&vmm->lock);
	free(mg->error);
	nk_bitmap_free(mg->nodes);
	*mg = (struct vmm_migration){
	    .state = VMM_MIGRATION_RUNNING,
	    .move = move,
	    .zone_id = nk_zone_spec(zone)->id,
	    .nodes = copy,
	    .total_bytes = nk_zone_size(zone),
	    .page_size = nk_zone_page_size(zone),
	};
	pthread_mutex_unlock(&vmm->lock);
	r = pthread_create(&mg->thread, NULL, worker, vmm);
	if (r != 0) {
		nk_zone_move_end(move, NULL);
		pthread_mutex_lock(&vmm->lock);
		mg->move = NULL;
		mg->state = VMM_MIGRATION_FAILED;
		pthread_mutex_unlock(&vmm->lock);
		return nk_error_set(err, r, "cannot start the migration thread: %s", strerror(r));
	}
	mg->thread_started = true;
	return 0;
}

/* The page counts and seconds of a migration, in the reply and in info. */
static void add_counts(json_object *o, const struct nk_migration *m)
{
	json_object_object_add(o, "moved_page_count", tool_json_u64(m->pages_moved));
	json_object_object_add(o, "already_page_count", tool_json_u64(m->pages_already));
	json_object_object_add(o, "failed_page_count", tool_json_u64(m->pages_failed));
	json_object_object_add(o, "absent_page_count", tool_json_u64(m->pages_absent));
	json_object_object_add(o, "seconds", tool_json_seconds(m->seconds));
}

static char *result_reply(const struct nk_migration *m)
{
	json_object *r = json_object_new_object();
	add_counts(r, m);
	json_object_object_add(r, "bytes_per_second",
			       tool_json_u64((uint64_t)(m->mb_per_s * 1e6 + 0.5)));
	return vmm_reply_ok(r);
}

bool vmm_migration_reap(struct vmm *vmm, bool stop, char **ret_reply)
{
	struct vmm_migration *mg = &vmm->migration;
	struct nk_migration m;

	if (!mg->thread_started)
		return false;
	pthread_mutex_lock(&vmm->lock);
	bool finished = mg->finished;
	if (stop)
		mg->stop = true;
	pthread_mutex_unlock(&vmm->lock);
	if (!finished && !stop)
		return false;
	pthread_join(mg->thread, NULL);
	mg->thread_started = false;
	/* The worker is gone: the zone's spec is ours to write. */
	nk_zone_move_end(mg->move, &m);
	pthread_mutex_lock(&vmm->lock);
	mg->move = NULL;
	mg->so_far = m;
	pthread_mutex_unlock(&vmm->lock);
	if (ret_reply)
		*ret_reply =
		    mg->state == VMM_MIGRATION_DONE
			? result_reply(&m)
			: vmm_reply_error(mg->error_code,
					  mg->error ? mg->error : "the migration failed", NULL);
	return true;
}

void vmm_migration_done(struct vmm *vmm)
{
	vmm_migration_reap(vmm, true, NULL);
	free(vmm->migration.error);
	nk_bitmap_free(vmm->migration.nodes);
	vmm->migration = (struct vmm_migration){.state = VMM_MIGRATION_NONE};
}

json_object *vmm_migration_json(struct vmm *vmm)
{
	const struct vmm_migration *mg = &vmm->migration;
	json_object *o = NULL;

	pthread_mutex_lock(&vmm->lock);
	if (mg->state != VMM_MIGRATION_NONE) {
		const struct nk_migration *m = &mg->so_far;
		o = json_object_new_object();
		json_object_object_add(o, "zone", json_object_new_string(mg->zone_id));
		json_object_object_add(o, "nodes", tool_json_list(mg->nodes));
		json_object_object_add(o, "state", json_object_new_string(state_names[mg->state]));
		json_object_object_add(o, "total_bytes", tool_json_u64(mg->total_bytes));
		json_object_object_add(o, "done_bytes", tool_json_u64(mg->done_bytes));
		json_object_object_add(o, "moved_bytes",
				       tool_json_u64(m->pages_moved * mg->page_size));
		add_counts(o, m);
		json_object_object_add(o, "error", tool_json_name(mg->error));
	}
	pthread_mutex_unlock(&vmm->lock);
	return o;
}
