/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm: a small KVM VMM built on libnumaksm.  Guest RAM is zones
 * (memory/), vCPU threads are placed by the planner (vcpu/), and a control
 * socket answers `numaksm vm`.  The order below is the point: everything
 * that can be refused is refused before anything is created, and whatever
 * was created is undone on every way out.
 */
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>

#include "json.h"
#include "vmm.h"

static const char *vm_name = "?";
/* --json: errors and log lines are JSON lines on stderr (docs/json.md). */
static bool json_mode;

static void log_handler(enum nk_log_level level, const char *message, void *userdata)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	(void)userdata;
	if (json_mode)
		tool_json_log_line("numaksm-vmm", level, message);
	else
		fprintf(stderr, "numaksm-vmm[%s]: %s: %s\n", vm_name, names[level], message);
}

static void vmm_log(enum nk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vmm_log(enum nk_log_level level, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n >= 0)
		log_handler(level, msg, NULL);
}

/* The error numaksm-vmm exits with (`what`: the call that failed, when
 * `err` does not say), and the exit status. */
static int exit_error(const char *what, int r, nk_error *err, int status)
{
	if (json_mode) {
		_cleanup_error_ nk_error *e = NULL;
		if (!err) {
			nk_error_set(&e, -r, "%s%s%s", what ? what : "", what ? ": " : "",
				     strerror(-r));
			err = e;
		}
		if (status == 2 && !nk_error_get_hint(err))
			nk_error_hint(&err, "see 'numaksm-vmm --help'");
		tool_json_error_line("numaksm-vmm", err, r, status);
		return status;
	}
	fprintf(stderr, "numaksm-vmm[%s]: %s%s%s\n", vm_name, what ? what : "", what ? ": " : "",
		err ? nk_error_message(err) : strerror(-r));
	if (err && nk_error_get_hint(err))
		fprintf(stderr, "  hint: %s\n", nk_error_get_hint(err));
	if (status == 2)
		fprintf(stderr, "  see 'numaksm-vmm --help'\n");
	return status;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int plan_pins(struct vmm *vmm, nk_error **err)
{
	const struct vmm_config *cfg = vmm->cfg;
	struct nk_pin_guest_node nodes[NKG_MAX_VCPUS];
	nk_pin_state *state = NULL;
	int r;

	r = nk_topo_load_live(vmm->host, &vmm->topo, err);
	if (r < 0)
		return r;
	for (unsigned g = 0; g < vmm->layout.n_guest_nodes; g++) {
		nodes[g].vcpus = cfg->vcpus;
		for (size_t i = 0; i < cfg->n_numa; i++)
			if (cfg->numa[i].guest_node == g)
				nodes[g].vcpus = cfg->numa[i].n_vcpus;
		nodes[g].memory_node = vmm_guest_node_host(cfg, g);
	}
	struct nk_pin_request req = {
	    .vcpus = cfg->vcpus,
	    .threads_per_core = cfg->threads_per_core,
	    .guest_nodes = nodes,
	    .n_guest_nodes = vmm->layout.n_guest_nodes,
	    .policy = cfg->pin_policy,
	    .smt = cfg->pin_smt,
	    .emulator = NK_PIN_EMULATOR_SHARE,
	};
	/* Plan and enter the plan under the state's lock, so two VMMs starting
	 * at once cannot be given the same dedicated CPUs. */
	r = nk_pin_state_open(vmm->host, cfg->runtime_dir, NK_PIN_STATE_WRITE, &state, err);
	if (r < 0)
		return r;
	r = nk_pin_plan_compute(vmm->topo, &req, state, &vmm->plan, err);
	if (r < 0) {
		nk_pin_state_free(state);
		return nk_error_prefix(err, "cannot place %u vCPUs", cfg->vcpus);
	}
	r = nk_pin_state_add(state, vmm->host, vmm->plan, getpid(), cfg->name, err);
	if (r >= 0)
		r = nk_pin_state_save(state, err);
	nk_pin_state_free(state);
	if (r < 0)
		return r;
	vmm->pins_saved = true;
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct nk_pin_vcpu pv;
		if (nk_pin_plan_vcpu(vmm->plan, i, &pv) < 0)
			return nk_error_set(err, EINVAL, "the plan has no vCPU %u", i);
		vmm->vcpus[i].cpus = nk_bitmap_dup(pv.cpus);
		if (!vmm->vcpus[i].cpus)
			return -ENOMEM;
	}
	return 0;
}

static void unplan_pins(struct vmm *vmm)
{
	nk_pin_state *state = NULL;
	if (!vmm->pins_saved)
		return;
	if (nk_pin_state_open(vmm->host, vmm->cfg->runtime_dir, NK_PIN_STATE_WRITE, &state, NULL) ==
	    0) {
		nk_pin_state_remove(state, getpid());
		(void)nk_pin_state_save(state, NULL);
		nk_pin_state_free(state);
	}
	vmm->pins_saved = false;
}

/* A stop signal that came while the VM was being built: stop there (the
 * signals are blocked and wait on the signalfd, so this takes them). */
static bool stop_pending(int sig_fd)
{
	struct signalfd_siginfo si;
	if (read(sig_fd, &si, sizeof(si)) != sizeof(si))
		return false;
	vmm_log(NK_LOG_INFO, "%s before the guest ran: undoing what was created",
		strsignal((int)si.ssi_signo));
	return true;
}

static int create_zones(struct vmm *vmm, int sig_fd, nk_error **err)
{
	vmm->zones = calloc(vmm->cfg->n_zones, sizeof(*vmm->zones));
	if (!vmm->zones)
		return -ENOMEM;
	for (size_t i = 0; i < vmm->cfg->n_zones; i++) {
		int r =
		    nk_zone_create(vmm->host, &vmm->cfg->zones[i].spec, &vmm->zones[i].zone, err);
		if (r < 0)
			return r;
		vmm->zones[i].gpa = vmm->cfg->zones[i].gpa;
		vmm->n_zones = i + 1;
		if (stop_pending(sig_fd))
			return 1;
	}
	return 0;
}

static void report_events(struct vmm *vmm, uint64_t *seen_passes, uint64_t *seen_verified)
{
	pthread_mutex_lock(&vmm->lock);
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		if (v->passes_done != seen_passes[i] || v->verified_pages != seen_verified[i]) {
			seen_passes[i] = v->passes_done;
			seen_verified[i] = v->verified_pages;
			vmm_log(NK_LOG_INFO,
				"vCPU %u: %llu passes, %llu pages verified, %llu bad pages", i,
				(unsigned long long)v->passes_done,
				(unsigned long long)v->verified_pages,
				(unsigned long long)v->verify_errors);
		}
	}
	pthread_mutex_unlock(&vmm->lock);
}

/* ---- the control loop ----------------------------------------------------- */

/*
 * Control clients: MAX_CLIENTS at a time.  A client that sends nothing for
 * CLIENT_IDLE_S is dropped; when every slot is taken, the client idle the
 * longest makes room if it has been idle CLIENT_EVICT_S, else the new one
 * is refused at once with the reason.  One waiting for a migration's end
 * is neither (it has asked; the answer is the VMM's to give).
 */
#define MAX_CLIENTS    16
#define CLIENT_IDLE_S  5.0
#define CLIENT_EVICT_S 1.0

struct client {
	double active_at; /* accepted, or last request */
	bool waiting;	  /* for the migration's reply */
};

static void drop_client(struct pollfd *pfd, struct client *c)
{
	close(pfd->fd);
	*pfd = (struct pollfd){.fd = -1};
	*c = (struct client){0};
}

/* Send a reply; a client that cannot take it (gone, or not reading) is dropped. */
static void send_reply(struct pollfd *pfd, struct client *c, const char *reply)
{
	if (send(pfd->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		drop_client(pfd, c);
}

static void serve_client(struct vmm *vmm, struct pollfd *pfd, struct client *c, unsigned *ret_flags)
{
	_cleanup_free_ char *buf = malloc(VMM_MSG_MAX + 1);
	struct iovec iov = {.iov_base = buf, .iov_len = VMM_MSG_MAX};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	_cleanup_free_ char *reply = NULL;

	*ret_flags = 0;
	if (!buf)
		return;
	ssize_t n = recvmsg(pfd->fd, &msg, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(pfd, c);
		return;
	}
	c->active_at = now_s();
	if (msg.msg_flags & MSG_TRUNC)
		reply = vmm_reply_error(EMSGSIZE, "the request is larger than 256 KiB", NULL);
	else
		reply = vmm_control_handle(vmm, buf, (size_t)n, ret_flags);
	if (*ret_flags & VMM_REQUEST_LATER) {
		c->waiting = true;
		pfd->events = 0; /* a hang-up is still reported */
	}
	if (reply)
		send_reply(pfd, c, reply);
}

static void accept_client(struct vmm *vmm, struct pollfd *fds, struct client *clients)
{
	int fd = accept4(vmm->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	double now = now_s();
	int slot = -1, idlest = -1;

	if (fd < 0)
		return;
	/* The socket's mode already keeps others out; this also holds when
	 * the directory is more open than it should be. */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		close(fd);
		return;
	}
	for (int i = 0; i < MAX_CLIENTS && slot < 0; i++) {
		if (fds[i].fd < 0)
			slot = i;
		else if (!clients[i].waiting &&
			 (idlest < 0 || clients[i].active_at < clients[idlest].active_at))
			idlest = i;
	}
	if (slot < 0 && idlest >= 0 && now - clients[idlest].active_at >= CLIENT_EVICT_S) {
		vmm_log(
		    NK_LOG_INFO,
		    "control: all " VMM_STRINGIFY(MAX_CLIENTS) " client slots taken: dropping "
							       "one idle for %.1f s to make room",
		    now - clients[idlest].active_at);
		drop_client(&fds[idlest], &clients[idlest]);
		slot = idlest;
	}
	if (slot < 0) {
		_cleanup_free_ char *reply = vmm_reply_error(
		    EBUSY, "too many clients: all " VMM_STRINGIFY(MAX_CLIENTS) " are busy",
		    "try again in a second");
		if (reply)
			(void)send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	fds[slot] = (struct pollfd){.fd = fd, .events = POLLIN};
	clients[slot] = (struct client){.active_at = now};
}

/* Drop the clients idle too long; @return the poll timeout until the next
 * one would be (ms), or -1. */
static int expire_clients(struct pollfd *fds, struct client *clients)
{
	double now = now_s(), next = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (fds[i].fd < 0 || clients[i].waiting)
			continue;
		double left = clients[i].active_at + CLIENT_IDLE_S - now;
		if (left <= 0)
			drop_client(&fds[i], &clients[i]);
		else if (next < 0 || left < next)
			next = left;
	}
	return next < 0 ? -1 : (int)(next * 1000) + 1;
}

/* The migration ended (or, with `stop`, is stopped): answer who asked. */
static void reap_migration(struct vmm *vmm, struct pollfd *fds, struct client *clients, bool stop)
{
	_cleanup_free_ char *reply = NULL;
	if (!vmm_migration_reap(vmm, stop, &reply))
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (fds[i].fd < 0 || !clients[i].waiting)
			continue;
		clients[i].waiting = false;
		clients[i].active_at = now_s();
		fds[i].events = POLLIN;
		if (reply)
			send_reply(&fds[i], &clients[i], reply);
	}
}

/* `stop` on the control socket: a running Linux guest is asked to power
 * off (its ACPI power button) and given --stop-timeout to do it; anything
 * else stops at once, as does a second `stop`.  @return whether to stop
 * now. */
static bool stop_request(struct vmm *vmm)
{
	const struct vmm_config *cfg = vmm->cfg;
	if (!cfg->kernel || !cfg->stop_timeout_s || vmm->power_button_at) {
		vmm_log(NK_LOG_INFO, "stop requested on the control socket");
		return true;
	}
	if (vmm->pause_requested) {
		vmm_log(NK_LOG_INFO, "stop requested on the control socket: the guest is paused "
				     "and cannot power off, stopping it");
		return true;
	}
	bool heard = vmm_linux_power_button(vmm);
	vmm->power_button_at = now_s();
	vmm_log(NK_LOG_INFO,
		"stop requested on the control socket: pressed the guest's power button%s; "
		"stopping it in %u s unless it powers off",
		heard ? "" : " (the guest has not enabled it yet)", cfg->stop_timeout_s);
	return false;
}

/* The poll timeout (ms, -1: none) shortened to end at `deadline` (0:
 * none); `*ret_passed` when it has passed. */
static int until(double deadline, int timeout, bool *ret_passed)
{
	*ret_passed = false;
	if (!deadline)
		return timeout;
	double left = deadline - now_s();
	if (left <= 0) {
		*ret_passed = true;
		return timeout;
	}
	int ms = (int)(left * 1000) + 1;
	return timeout < 0 || ms < timeout ? ms : timeout;
}

/* When a Linux guest that has not written to its console yet is given up
 * (--boot-timeout), or 0. */
static double boot_deadline(struct vmm *vmm)
{
	const struct vmm_config *cfg = vmm->cfg;
	if (!cfg->kernel || !cfg->boot_timeout_s || vmm_linux_console_written(vmm))
		return 0;
	return vmm->started_at + cfg->boot_timeout_s;
}

static int main_loop(struct vmm *vmm, int sig_fd, nk_error **err)
{
	/* The clients, then the serial port's console last. */
	struct pollfd fds[3 + MAX_CLIENTS + VMM_CONSOLE_FDS];
	struct client clients[MAX_CLIENTS] = {{0}};
	uint64_t seen_passes[NKG_MAX_VCPUS] = {0}, seen_verified[NKG_MAX_VCPUS] = {0};
	bool stop = false;
	int r = 0;

	fds[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
	fds[1] = (struct pollfd){.fd = vmm->event_fd, .events = POLLIN};
	fds[2] = (struct pollfd){.fd = vmm->listen_fd, .events = POLLIN};
	for (int i = 0; i < MAX_CLIENTS; i++)
		fds[3 + i] = (struct pollfd){.fd = -1};
	struct pollfd *console = &fds[3 + MAX_CLIENTS];

	while (!stop) {
		bool overdue, silent;
		int timeout = expire_clients(&fds[3], clients);
		timeout = until(
		    vmm->power_button_at ? vmm->power_button_at + vmm->cfg->stop_timeout_s : 0,
		    timeout, &overdue);
		timeout = until(boot_deadline(vmm), timeout, &silent);
		if (overdue) {
			vmm_log(NK_LOG_WARNING,
				"the guest did not power off within %u s of its power button: "
				"stopping it",
				vmm->cfg->stop_timeout_s);
			vmm->stuck = true;
			break;
		}
		if (silent) {
			r = nk_error_set(err, ETIMEDOUT,
					 "the guest wrote nothing to its console in %u s: is "
					 "console=ttyS0 on its command line?",
					 vmm->cfg->boot_timeout_s);
			vmm->stuck = true;
			break;
		}
		vmm_linux_console_poll(vmm, console);
		if (poll(fds, ARRAY_SIZE(fds), timeout) < 0) {
			if (errno == EINTR)
				continue;
			vmm_log(NK_LOG_ERROR, "poll: %s", strerror(errno));
			break;
		}
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
				vmm_log(NK_LOG_INFO, "%s: stopping", strsignal((int)si.ssi_signo));
				vmm->stuck = true;
				stop = true;
				break;
			}
		}
		if (fds[1].revents & POLLIN) {
			uint64_t count;
			if (read(vmm->event_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
				break;
			report_events(vmm, seen_passes, seen_verified);
			reap_migration(vmm, &fds[3], clients, false);
			const char *how = NULL;
			if (vmm->cfg->kernel && vmm_linux_ended(vmm, &how)) {
				vmm_log(NK_LOG_INFO, "the guest %s", how);
				stop = true;
			} else if (!vmm->cfg->kernel && vmm_all_stopped(vmm) && !vmm->cfg->hold) {
				vmm_log(NK_LOG_INFO, "the guest halted");
				stop = true;
			}
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			unsigned flags = 0;
			if (fds[3 + i].fd >= 0 && clients[i].waiting &&
			    (fds[3 + i].revents & (POLLHUP | POLLERR)))
				drop_client(&fds[3 + i], &clients[i]); /* the migration goes on */
			else if (fds[3 + i].fd >= 0 && fds[3 + i].revents)
				serve_client(vmm, &fds[3 + i], &clients[i], &flags);
			if ((flags & VMM_REQUEST_STOP) && stop_request(vmm))
				stop = true;
		}
		vmm_linux_console_events(vmm, console);
		/* After the clients: those that left have made room. */
		if (fds[2].revents & POLLIN)
			accept_client(vmm, &fds[3], clients);
	}
	/* A migration stops at its next chunk; who waits for it is told. */
	reap_migration(vmm, &fds[3], clients, true);
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (fds[3 + i].fd >= 0)
			close(fds[3 + i].fd);
	return r;
}

static int result_status(struct vmm *vmm)
{
	int status = 0;
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		if (v->state == VCPU_FAILED) {
			vmm_log(NK_LOG_ERROR, "vCPU %u: %s", i, v->error ? v->error : "failed");
			status = 1;
		}
		if (v->verify_errors) {
			vmm_log(NK_LOG_ERROR,
				"vCPU %u: the guest found %llu pages that differ from what was "
				"written, the first at guest address 0x%llx",
				i, (unsigned long long)v->verify_errors,
				(unsigned long long)v->first_bad_gpa);
			status = 1;
		}
	}
	return status;
}

/* Each exit is a round trip through the host kernel: where they went. */
static void log_exits(const struct vmm *vmm)
{
	uint64_t n[VMM_EXIT_KINDS], all = 0;
	vmm_linux_exits(vmm, n);
	for (int k = 0; k < VMM_EXIT_KINDS; k++)
		all += n[k];
	vmm_log(NK_LOG_INFO,
		"the guest's exits to numaksm-vmm: %" PRIu64 " (serial %" PRIu64
		", PM timer %" PRIu64 ", ACPI %" PRIu64 ", RTC %" PRIu64 ", other ports %" PRIu64
		", MMIO %" PRIu64 ")",
		all, n[VMM_EXIT_SERIAL], n[VMM_EXIT_PM_TIMER], n[VMM_EXIT_ACPI], n[VMM_EXIT_RTC],
		n[VMM_EXIT_OTHER_IO], n[VMM_EXIT_MMIO]);
}

/* Where each vCPU was when a guest that would not end was stopped: the
 * RIP of a kernel that hangs names the function it hangs in. */
static void log_where(const struct vmm *vmm)
{
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		_cleanup_free_ char *where = vmm_vcpu_where(&vmm->vcpus[i]);
		if (where)
			vmm_log(NK_LOG_INFO, "vCPU %u stopped at %s", i, where);
		else
			vmm_log(NK_LOG_WARNING, "vCPU %u: cannot read its registers: %s", i,
				strerror(errno));
	}
}

static void teardown(struct vmm *vmm)
{
	vmm_migration_done(vmm);
	vmm_vcpus_stop(vmm);
	if (vmm->cfg->kernel && vmm->started_at > 0)
		log_exits(vmm);
	if (vmm->stuck && vmm->vcpus)
		log_where(vmm);
	vmm_kvm_close(vmm);
	vmm_linux_close(vmm);
	for (size_t i = 0; i < vmm->n_zones; i++)
		nk_zone_free(vmm->zones[i].zone);
	free(vmm->zones);
	vmm->zones = NULL;
	vmm->n_zones = 0;
	vmm_control_close(vmm);
	unplan_pins(vmm);
	for (unsigned i = 0; vmm->vcpus && i < vmm->n_vcpus; i++) {
		nk_bitmap_free(vmm->vcpus[i].cpus);
		free(vmm->vcpus[i].error);
	}
	free(vmm->vcpus);
	vmm->vcpus = NULL;
	if (vmm->event_fd >= 0)
		close(vmm->event_fd);
	nk_pin_plan_free(vmm->plan);
	nk_topo_free(vmm->topo);
	nk_host_free(vmm->host);
}

/* @return 0 when the VM ran and stopped, 1 when a stop signal came before
 * it ran, -errno on failure. */
static int run(struct vmm *vmm, int sig_fd, nk_error **err)
{
	const struct vmm_config *cfg = vmm->cfg;
	double zones_s;
	int r;

	r = nk_host_open(NULL, &vmm->host, err);
	if (r < 0)
		return r;
	r = vmm_kvm_open(vmm, err);
	if (r < 0)
		return r;
	vmm->vcpus = calloc(cfg->vcpus, sizeof(*vmm->vcpus));
	if (!vmm->vcpus)
		return -ENOMEM;
	vmm->n_vcpus = cfg->vcpus;
	for (unsigned i = 0; i < vmm->n_vcpus; i++)
		vmm->vcpus[i] = (struct vmm_vcpu){.vmm = vmm, .id = i, .fd = -1};
	r = vmm_control_open(vmm, err);
	if (r < 0)
		return r;
	if (cfg->pin) {
		r = plan_pins(vmm, err);
		if (r < 0)
			return r;
	}
	/* Creating zones (prefault) and the fill take a while: a stop signal
	 * is looked at after each step. */
	double zones_at = now_s();
	r = create_zones(vmm, sig_fd, err);
	if (r != 0)
		return r;
	zones_s = now_s() - zones_at;
	r = vmm_load_files(vmm, err);
	if (r < 0)
		return r;
	if (stop_pending(sig_fd))
		return 1;
	r = vmm_fill(vmm, err);
	if (r < 0)
		return r;
	if (stop_pending(sig_fd))
		return 1;
	if (cfg->fill.set)
		vmm_log(NK_LOG_INFO, "host-written fill: %llu pages in %.2f s",
			(unsigned long long)vmm->fill_pages_written, vmm->fill_seconds);
	/* The guest's SLIT has the distances between the zones' host nodes. */
	if (cfg->kernel && !vmm->topo && nk_topo_load_live(vmm->host, &vmm->topo, NULL) < 0)
		vmm_log(NK_LOG_WARNING, "no host topology: the guest's node distances are 10/20");
	r = vmm_kvm_create(vmm, err);
	if (r < 0)
		return r;
	if (cfg->kernel) {
		r = nk_vmm_registration_set_console(vmm->registration, cfg->console,
						    vmm_linux_console_path(vmm), err);
		if (r < 0)
			return r;
	}
	if (cfg->kernel && cfg->console != NK_VMM_CONSOLE_STDIO)
		vmm_log(NK_LOG_INFO, "console on %s", vmm_linux_console_path(vmm));
	vmm->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vmm->event_fd < 0)
		return nk_error_set(err, errno, "eventfd: %m");
	vmm->started_at = now_s();
	r = vmm_vcpus_start(vmm, err);
	if (r < 0)
		return r;
	vmm_log(NK_LOG_INFO, "running: %u vCPUs, %zu zones, %llu MiB; control socket %s",
		vmm->n_vcpus, vmm->n_zones, (unsigned long long)(vmm->layout.gpa_end >> 20),
		vmm->socket_path);
	/* Where the time to a running guest goes before its first instruction. */
	vmm_log(NK_LOG_INFO,
		"started in %.3f s: zones (allocation, prefault) %.3f s, the rest (the kernel "
		"read, KVM, guest image, vCPUs) %.3f s",
		vmm->started_at - vmm->begun_at, zones_s,
		vmm->started_at - vmm->begun_at - zones_s);
	if (cfg->json)
		vmm_info_print(vmm);
	return main_loop(vmm, sig_fd, err);
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	_cleanup_error_ nk_error *err = NULL;
	sigset_t stop_signals;
	int r, status;
	double begun_at = now_s();

	json_mode = tool_json_wanted(argc, argv);
	vmm_config_init(&cfg);
	r = vmm_config_parse(&cfg, argc, argv, &err);
	if (cfg.name)
		vm_name = cfg.name;
	if (r == 1) {
		vmm_config_done(&cfg);
		return 0;
	}
	struct vmm vmm = {
	    .cfg = &cfg,
	    .kvm_fd = -1,
	    .vm_fd = -1,
	    .event_fd = -1,
	    .listen_fd = -1,
	    .begun_at = begun_at,
	};
	if (r == 0)
		r = vmm_layout_compute(&cfg, &vmm.layout, &err);
	/* A kernel that cannot boot is refused before anything is created. */
	if (r == 0 && cfg.kernel)
		r = vmm_linux_prepare(&cfg, &vmm.linux_boot, &err);
	if (r < 0) {
		exit_error(NULL, r, err, 2);
		vmm_config_done(&cfg);
		return 2;
	}
	nk_log_set_handler(log_handler, NULL, NK_LOG_INFO);
	if (cfg.kernel && vmm.linux_boot.boot_note[0])
		vmm_log(NK_LOG_INFO, "%s", vmm.linux_boot.boot_note);
	pthread_mutex_init(&vmm.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vmm.cond, &ca);
	pthread_condattr_destroy(&ca);

	/* Stop signals arrive on a signalfd in the main loop; every thread
	 * inherits the block. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sig_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd < 0) {
		exit_error("signalfd", -errno, NULL, 1);
		vmm_config_done(&cfg);
		return 1;
	}

	r = run(&vmm, sig_fd, &err);
	if (r < 0) {
		status = exit_error(NULL, r, err, 1);
	} else if (r == 1) {
		status = 0; /* stopped on request before it ran */
	} else {
		status = result_status(&vmm);
	}
	teardown(&vmm);
	close(sig_fd);
	pthread_cond_destroy(&vmm.cond);
	pthread_mutex_destroy(&vmm.lock);
	vmm_config_done(&cfg);
	return status;
}
