/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * KVM: the VM, a memory slot per zone, and the vCPU threads that run the
 * built-in guest program in 64-bit mode.  Each vCPU thread pins itself as
 * the plan says and checks that it holds, before any vCPU enters the guest.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "vmm.h"

extern const unsigned char vmm_guest_start[], vmm_guest_end[];

/* CR0, CR4 and EFER bits of 64-bit mode. */
#define CR0_PE	 (1ull << 0)
#define CR0_MP	 (1ull << 1)
#define CR0_ET	 (1ull << 4)
#define CR0_NE	 (1ull << 5)
#define CR0_WP	 (1ull << 16)
#define CR0_PG	 (1ull << 31)
#define CR4_PAE	 (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define VCPU_KICK_SIGNAL SIGUSR1

const char *vmm_vcpu_state_name(enum vmm_vcpu_state state)
{
	static const char *const names[] = {"created", "running", "paused", "halted", "failed"};
	return (unsigned)state < ARRAY_SIZE(names) ? names[state] : "?";
}

void *vmm_gpa_to_host(const struct vmm *vmm, uint64_t gpa, uint64_t len)
{
	for (size_t i = 0; i < vmm->n_zones; i++) {
		uint64_t start = vmm->zones[i].gpa, size = nk_zone_size(vmm->zones[i].zone);
		if (gpa >= start && gpa - start < size && len <= size - (gpa - start))
			return (char *)nk_zone_addr(vmm->zones[i].zone) + (gpa - start);
	}
	return NULL;
}

int vmm_kvm_open(struct vmm *vmm, nk_error **err)
{
	vmm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vmm->kvm_fd < 0) {
		int e = errno;
		nk_error_set(err, e, "cannot open /dev/kvm: %s", strerror(e));
		if (e == ENOENT)
			return nk_error_hint(err,
					     "load kvm-intel or kvm-amd (modprobe), and enable "
					     "virtualization in the firmware or the hypervisor "
					     "this host runs in; `numaksm check` tells more");
		return nk_error_hint(err, "run as root or as a member of the kvm group");
	}
	int version = ioctl(vmm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION)
		return nk_error_set(err, ENOTSUP, "/dev/kvm speaks API version %d, not %d", version,
				    KVM_API_VERSION);
	int max = ioctl(vmm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vmm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vmm->cfg->vcpus > (unsigned)max)
		return nk_error_set(err, EINVAL, "--cpus count=%u: KVM allows at most %d vCPUs",
				    vmm->cfg->vcpus, max);
	int slots = ioctl(vmm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (slots > 0 && vmm->cfg->n_zones > (size_t)slots)
		return nk_error_set(err, EINVAL, "%zu zones: KVM allows %d memory slots",
				    vmm->cfg->n_zones, slots);
	return 0;
}

#define CPUID_PV_FIRST 0x40000000u
#define CPUID_PV_LAST  0x4fffffffu

/* What vCPU `id` sees of the supported CPUID: its APIC ID, and KVM's
 * paravirtual leaves only when asked (a nested guest stalls with them). */
static void cpuid_for_vcpu(struct kvm_cpuid2 *c, unsigned id, bool pv)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 e = c->entries[i];
		if (!pv && e.function >= CPUID_PV_FIRST && e.function <= CPUID_PV_LAST)
			continue;
		if (e.function == 1)
			e.ebx = (e.ebx & 0x00ffffffu) | id << 24;
		if (e.function == 0xb || e.function == 0x1f)
			e.edx = id; /* x2APIC ID */
		c->entries[n++] = e;
	}
	c->nent = n;
}

static int set_cpuid(struct vmm *vmm, struct vmm_vcpu *v, nk_error **err)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		_cleanup_free_ struct kvm_cpuid2 *cpuid =
		    calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = n;
		if (ioctl(vmm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
			if (errno == E2BIG)
				continue;
			return nk_error_set(err, errno, "KVM_GET_SUPPORTED_CPUID: %m");
		}
		cpuid_for_vcpu(cpuid, v->id, vmm->cfg->cpuid_pv);
		if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0)
			return nk_error_set(err, errno, "KVM_SET_CPUID2: %m");
		return 0;
	}
	return nk_error_set(err, E2BIG, "KVM_GET_SUPPORTED_CPUID: too many entries");
}

static void segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = code ? 0 : 1,
	    .s = 1,
	    .l = code ? 1 : 0,
	    .g = 1,
	};
}

/* Where a vCPU starts in 64-bit mode: its GDT (code, data and TSS
 * selectors), page tables and registers. */
struct long_mode {
	uint16_t cs, ds, tr;
	uint64_t gdt, gdt_entries, cr3;
	struct kvm_regs regs;
};

/* 64-bit mode from the first instruction: paging on, the given GDT, no IDT
 * (an exception before the guest sets one up is a triple fault, which we
 * report). */
static int setup_long_mode(struct vmm_vcpu *v, const struct long_mode *m, nk_error **err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = m->regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return nk_error_set(err, errno, "vCPU %u: KVM_GET_SREGS: %m", v->id);
	segment(&sregs.cs, m->cs, 0xb, true);
	segment(&sregs.ds, m->ds, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	/* A valid busy 64-bit TSS, which VMX entry checks even though the
	 * guest never switches stacks through it. */
	sregs.tr = (struct kvm_segment){
	    .base = 0, .limit = 0x67, .selector = m->tr, .type = 0xb, .present = 1};
	sregs.ldt = (struct kvm_segment){.selector = 0, .type = 0x2, .present = 1, .limit = 0xffff};
	sregs.gdt.base = m->gdt;
	sregs.gdt.limit = (uint16_t)(m->gdt_entries * 8 - 1);
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = m->cr3;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return nk_error_set(err, errno, "vCPU %u: KVM_SET_SREGS (64-bit mode): %m", v->id);
	regs.rflags = 0x2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return nk_error_set(err, errno, "vCPU %u: KVM_SET_REGS: %m", v->id);
	return 0;
}

static int setup_vcpu_state(struct vmm *vmm, struct vmm_vcpu *v, nk_error **err)
{
	if (vmm->cfg->kernel) {
		/* The boot CPU enters the kernel's 64-bit entry with RSI at
		 * boot_params; the others wait for its INIT and SIPI in
		 * KVM's local APIC. */
		if (v->id != 0)
			return 0;
		struct long_mode m = {
		    .cs = 0x10, /* __BOOT_CS */
		    .ds = 0x18, /* __BOOT_DS */
		    .tr = 0x20,
		    .gdt = VMM_BOOT_GDT_GPA,
		    .gdt_entries = 5,
		    .cr3 = VMM_BOOT_PT_GPA,
		    .regs = {.rip = vmm->linux_boot.plan.entry,
			     .rsi = VMM_BOOT_PARAMS_GPA,
			     .rsp = VMM_BOOT_PARAMS_GPA - 16},
		};
		return setup_long_mode(v, &m, err);
	}
	struct long_mode m = {
	    .cs = 0x08,
	    .ds = 0x10,
	    .tr = 0x18,
	    .gdt = NKG_GDT_GPA,
	    .gdt_entries = 3,
	    .cr3 = NKG_PT_GPA,
	    /* As if called: %rsp + 8 is 16-byte aligned at the first instruction. */
	    .regs = {.rip = NKG_CODE_GPA,
		     .rsp = NKG_STACK_GPA + (v->id + 1) * NKG_STACK_SIZE - 8,
		     .rdi = v->id,
		     .rsi = NKG_BOOT_GPA},
	};
	return setup_long_mode(v, &m, err);
}

/* The system area: GDT, boot block, page tables and the program. */
static int setup_system_area(struct vmm *vmm, nk_error **err)
{
	size_t code_len = (size_t)(vmm_guest_end - vmm_guest_start);
	void *gdt = vmm_gpa_to_host(vmm, NKG_GDT_GPA, 24);
	struct nkg_boot *boot = vmm_gpa_to_host(vmm, NKG_BOOT_GPA, sizeof(*boot));
	void *code = vmm_gpa_to_host(vmm, NKG_CODE_GPA, NKG_CODE_MAX);
	void *pt = vmm_gpa_to_host(vmm, NKG_PT_GPA, NKG_SYSTEM_END - NKG_PT_GPA);
	const struct vmm_config *cfg = vmm->cfg;

	if (!gdt || !boot || !code || !pt)
		return nk_error_set(err, EINVAL, "guest RAM does not cover the system area");
	if (code_len > NKG_CODE_MAX)
		return nk_error_set(err, E2BIG, "the guest program is larger than %llu bytes",
				    NKG_CODE_MAX);
	vmm_layout_gdt(gdt);
	vmm_layout_page_tables(cfg, vmm->layout.gpa_end, pt);
	memcpy(code, vmm_guest_start, code_len);
	memset(boot, 0, sizeof(*boot));
	*boot = (struct nkg_boot){
	    .magic = NKG_BOOT_MAGIC,
	    .version = NKG_BOOT_VERSION,
	    .n_vcpus = vmm->n_vcpus,
	    .mode = cfg->workload.mode,
	    .passes = cfg->workload.c.set ? cfg->workload.passes : 1,
	    .period_ms = cfg->workload.period_ms,
	    .verify = cfg->workload.verify,
	    .content = cfg->workload.c.content,
	};
	if (cfg->workload.c.set)
		memcpy(boot->work, vmm->layout.work, sizeof(boot->work));
	return 0;
}

/* Does kvm_intel run real mode natively (then it never uses its TSS and
 * identity map)?  "Y" in its module parameter; AMD never needs them. */
static bool real_mode_native(void)
{
	char buf[4] = "";
	int fd = open("/sys/module/kvm_intel/parameters/unrestricted_guest", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true; /* not Intel */
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && buf[0] == 'Y';
}

/* Intel's real-mode TSS and identity map go in a gap of guest RAM below
 * 4 GiB, as KVM requires, or where it never uses them, nowhere. */
static int set_tss(struct vmm *vmm, nk_error **err)
{
	uint64_t gap = vmm->layout.tss_gpa;
	if (!gap) {
		if (real_mode_native())
			return 0;
		return nk_error_set(err, ENOSPC,
				    "guest RAM covers the whole first 4 GiB, which leaves KVM no "
				    "room for its real-mode TSS on this CPU; place a zone above "
				    "with gpa= to leave a gap");
	}
	if (ioctl(vmm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &gap) < 0 && errno != ENOTTY &&
	    errno != EINVAL)
		return nk_error_set(err, errno, "KVM_SET_IDENTITY_MAP_ADDR: %m");
	if (ioctl(vmm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)(gap + NKG_PAGE_SIZE)) < 0 &&
	    errno != ENOTTY)
		return nk_error_set(err, errno, "KVM_SET_TSS_ADDR: %m");
	return 0;
}

/* Writes that Linux makes by the thousand to a port with nothing behind it
 * end in the host kernel: an ioeventfd on the port completes each write in
 * KVM, with no exit to numaksm-vmm.  The PCI configuration address (0xcf8):
 * on an AMD family 0xf or 0x10 CPU, Linux looks for an AGP bridge on every
 * bus and slot twice at boot, 16000 writes there each followed by a read
 * of 0xcfc (reads still come here and find nothing: all ones).  KVM holds
 * the eventfd, so it is closed here; nothing reads it.  Without it (an
 * older KVM) the writes exit and vanish as before: same guest, slower. */
static void absorb_writes(struct vmm *vmm)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return;
	struct kvm_ioeventfd ev = {
	    .addr = VMM_PCI_CONFIG_ADDRESS_PORT,
	    .len = 4,
	    .fd = fd,
	    .flags = KVM_IOEVENTFD_FLAG_PIO,
	};
	(void)ioctl(vmm->vm_fd, KVM_IOEVENTFD, &ev);
	close(fd);
}

/* What Linux needs of KVM's own devices: the local APICs, IOAPIC and
 * 8259s, and the PIT with port 0x61.  Linux calibrates the TSC with PIT
 * channel 2, whose gate it sets and whose output it polls in bit 5 of port
 * 0x61: KVM only serves that port with KVM_PIT_SPEAKER_DUMMY (a speaker
 * that makes no sound).  Without it the port exits here and reads all ones:
 * the gate never opens, the output always reads high, and the calibration
 * against the PIT cannot work. */
static int create_devices(struct vmm *vmm, nk_error **err)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};

	if (ioctl(vmm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return nk_error_set(err, errno, "KVM_CREATE_IRQCHIP: %m");
	if (ioctl(vmm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return nk_error_set(err, errno, "KVM_CREATE_PIT2: %m");
	absorb_writes(vmm);
	return 0;
}

int vmm_kvm_create(struct vmm *vmm, nk_error **err)
{
	int mmap_size;

	vmm->vm_fd = ioctl(vmm->kvm_fd, KVM_CREATE_VM, 0);
	if (vmm->vm_fd < 0)
		return nk_error_set(err, errno, "KVM_CREATE_VM: %m");
	(void)fcntl(vmm->vm_fd, F_SETFD, FD_CLOEXEC);
	int r = set_tss(vmm, err);
	if (r < 0)
		return r;

	for (size_t i = 0; i < vmm->n_zones; i++) {
		struct kvm_userspace_memory_region region = {
		    .slot = (uint32_t)i,
		    .guest_phys_addr = vmm->zones[i].gpa,
		    .memory_size = nk_zone_size(vmm->zones[i].zone),
		    .userspace_addr = (uintptr_t)nk_zone_addr(vmm->zones[i].zone),
		};
		if (ioctl(vmm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
			return nk_error_set(err, errno, "zone %s: KVM_SET_USER_MEMORY_REGION: %m",
					    nk_zone_spec(vmm->zones[i].zone)->id);
	}
	if (vmm->cfg->kernel) {
		r = create_devices(vmm, err);
		if (r >= 0)
			r = vmm_linux_setup(vmm, err);
	} else {
		r = setup_system_area(vmm, err);
	}
	if (r < 0)
		return r;

	mmap_size = ioctl(vmm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run))
		return nk_error_set(err, errno ? errno : EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %m");
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		v->fd = ioctl(vmm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0)
			return nk_error_set(err, errno, "vCPU %u: KVM_CREATE_VCPU: %m", i);
		(void)fcntl(v->fd, F_SETFD, FD_CLOEXEC);
		v->run =
		    mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return nk_error_set(err, errno, "vCPU %u: mmap of kvm_run: %m", i);
		}
		v->run_size = (size_t)mmap_size;
		r = set_cpuid(vmm, v, err);
		if (r < 0)
			return nk_error_prefix(err, "vCPU %u", i);
		r = setup_vcpu_state(vmm, v, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static void notify_main(struct vmm *vmm)
{
	uint64_t one = 1;
	if (write(vmm->event_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow in practice; nothing to do. */
	}
}

static void vcpu_fail(struct vmm_vcpu *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vcpu_fail(struct vmm_vcpu *v, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	pthread_mutex_lock(&v->vmm->lock);
	free(v->error);
	v->error = msg;
	v->state = VCPU_FAILED;
	pthread_cond_broadcast(&v->vmm->cond);
	pthread_mutex_unlock(&v->vmm->lock);
	notify_main(v->vmm);
}

/* Wait until `deadline` (NULL: only while paused), parked while paused.
 * @return false when the VM is stopping.  Called with the lock held. */
static bool vcpu_wait(struct vmm_vcpu *v, const struct timespec *deadline)
{
	struct vmm *vmm = v->vmm;
	for (;;) {
		if (vmm->stop_requested)
			return false;
		if (vmm->pause_requested || !vmm->go) {
			if (vmm->go && !v->parked) {
				v->parked = true;
				v->state = VCPU_PAUSED;
				pthread_cond_broadcast(&vmm->cond);
			}
			pthread_cond_wait(&vmm->cond, &vmm->lock);
			continue;
		}
		if (v->parked) {
			v->parked = false;
			v->state = VCPU_RUNNING;
			pthread_cond_broadcast(&vmm->cond);
		}
		if (!deadline)
			return true;
		if (pthread_cond_timedwait(&vmm->cond, &vmm->lock, deadline) == ETIMEDOUT)
			return !vmm->stop_requested;
	}
}

static bool handle_io(struct vmm_vcpu *v)
{
	struct vmm *vmm = v->vmm;
	struct kvm_run *run = v->run;
	uint32_t value = 0;

	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1) {
		vcpu_fail(v, "guest %s port 0x%x (size %u): not a port of this VMM",
			  run->io.direction == KVM_EXIT_IO_OUT ? "wrote" : "read", run->io.port,
			  run->io.size);
		return false;
	}
	memcpy(&value, (char *)run + run->io.data_offset, sizeof(value));
	if (run->io.port == NKG_PORT_SLEEP) {
		struct timespec deadline;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += value / 1000;
		deadline.tv_nsec += (long)(value % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000)
			deadline.tv_sec++, deadline.tv_nsec -= 1000000000;
		pthread_mutex_lock(&vmm->lock);
		bool go_on = vcpu_wait(v, &deadline);
		pthread_mutex_unlock(&vmm->lock);
		return go_on;
	}
	if (run->io.port != NKG_PORT_EVENT) {
		vcpu_fail(v, "guest wrote 0x%x to port 0x%x: not a port of this VMM", value,
			  run->io.port);
		return false;
	}
	const struct nkg_mailbox *mb =
	    vmm_gpa_to_host(vmm, NKG_MAILBOX_GPA + v->id * sizeof(*mb), sizeof(*mb));
	pthread_mutex_lock(&vmm->lock);
	v->io_exits++;
	memcpy(&v->last, mb, sizeof(v->last));
	switch (value) {
	case NKG_EV_PASS:
		v->passes_done = v->last.pass + 1;
		v->pass_checksum = v->last.checksum;
		break;
	case NKG_EV_VERIFY:
		v->verified_pages = v->last.pages;
		v->verify_checksum = v->last.checksum;
		if (v->last.errors && !v->verify_errors)
			v->first_bad_gpa = v->last.first_bad_gpa;
		v->verify_errors += v->last.errors;
		break;
	case NKG_EV_BAD_BOOT:
		pthread_mutex_unlock(&vmm->lock);
		vcpu_fail(v, "the guest program did not understand its boot block");
		return false;
	default:
		break;
	}
	pthread_mutex_unlock(&vmm->lock);
	if (value != NKG_EV_PROGRESS)
		notify_main(vmm);
	return true;
}

static void vcpu_halted(struct vmm_vcpu *v)
{
	pthread_mutex_lock(&v->vmm->lock);
	v->state = VCPU_HALTED;
	pthread_cond_broadcast(&v->vmm->cond);
	pthread_mutex_unlock(&v->vmm->lock);
	notify_main(v->vmm);
}

static void report_exit(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs = {0};
	(void)ioctl(v->fd, KVM_GET_REGS, &regs);

	switch (run->exit_reason) {
	case KVM_EXIT_SHUTDOWN:
		if (v->vmm->cfg->kernel) {
			/* After the reset it asked for, a triple fault is its end. */
			pthread_mutex_lock(&v->vmm->lock);
			bool reset = v->vmm->rebooted;
			pthread_mutex_unlock(&v->vmm->lock);
			/* KVM on AMD resets the vCPU before it reports the
			 * shutdown: the reset vector is no place to name. */
			struct kvm_sregs sregs = {0};
			char rip[64];
			(void)ioctl(v->fd, KVM_GET_SREGS, &sregs);
			if (regs.rip == 0xfff0 && sregs.cs.base == 0xffff0000)
				snprintf(rip, sizeof(rip), "unknown (KVM reset the vCPU)");
			else
				snprintf(rip, sizeof(rip), "0x%llx", (unsigned long long)regs.rip);
			if (reset)
				vcpu_halted(v);
			else
				vcpu_fail(
				    v,
				    "the guest triple-faulted (KVM_EXIT_SHUTDOWN) at RIP %s: a "
				    "kernel that does not fit this VM or a corrupt image",
				    rip);
			break;
		}
		vcpu_fail(v, "the guest crashed (triple fault) at rip=0x%llx",
			  (unsigned long long)regs.rip);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(v, "KVM could not enter the guest (hardware reason 0x%llx)",
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fail(v, "KVM internal error %u at rip=0x%llx", run->internal.suberror,
			  (unsigned long long)regs.rip);
		break;
	case KVM_EXIT_MMIO:
		vcpu_fail(v, "the guest touched 0x%llx, which is no guest RAM (rip=0x%llx)",
			  (unsigned long long)run->mmio.phys_addr, (unsigned long long)regs.rip);
		break;
	default:
		vcpu_fail(v, "unexpected KVM exit %u at rip=0x%llx", run->exit_reason,
			  (unsigned long long)regs.rip);
	}
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int pin_self(struct vmm_vcpu *v, char **ret_error)
{
	_cleanup_free_ char *want = NULL;
	cpu_set_t set, check;

	if (!v->cpus)
		return 0;
	CPU_ZERO(&set);
	for (int c = nk_bitmap_next(v->cpus, 0); c >= 0;
	     c = nk_bitmap_next(v->cpus, (unsigned)c + 1))
		if (c < CPU_SETSIZE)
			CPU_SET(c, &set);
	nk_bitmap_format(v->cpus, &want);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return asprintf(ret_error, "cannot pin vCPU %u to CPUs %s: %s", v->id,
				want ? want : "?", strerror(errno)) < 0
			   ? -ENOMEM
			   : -errno;
	/* A cpuset may narrow what we asked for without an error: check. */
	if (sched_getaffinity(0, sizeof(check), &check) < 0 || !CPU_EQUAL(&set, &check))
		return asprintf(ret_error,
				"vCPU %u was pinned to CPUs %s but its affinity differs (a cpuset "
				"narrower than the plan?)",
				v->id, want ? want : "?") < 0
			   ? -ENOMEM
			   : -EPERM;
	v->pin_verified = true;
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm *vmm = v->vmm;
	char name[16];
	sigset_t kick;

	snprintf(name, sizeof(name), "CPU %u/KVM", v->id);
	prctl(PR_SET_NAME, name);
	v->tid = (pid_t)syscall(SYS_gettid);
	char *error = NULL;
	if (pin_self(v, &error) < 0) {
		vcpu_fail(v, "%s", error ? error : "cannot pin");
		free(error);
		return NULL;
	}
	pthread_mutex_lock(&vmm->lock);
	v->state = VCPU_RUNNING;
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);

	/* Only vCPU threads take the kick, so it interrupts KVM_RUN. */
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	for (;;) {
		pthread_mutex_lock(&vmm->lock);
		bool go_on = vcpu_wait(v, NULL);
		pthread_mutex_unlock(&vmm->lock);
		if (!go_on)
			break;
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				atomic_store((_Atomic uint8_t *)&v->run->immediate_exit, 0);
				continue;
			}
			vcpu_fail(v, "KVM_RUN: %s", strerror(errno));
			return NULL;
		}
		if (v->run->exit_reason == KVM_EXIT_IO && vmm->cfg->kernel) {
			if (vmm_linux_io(v))
				continue;
			vcpu_halted(v); /* powered off or reset */
			return NULL;
		}
		if (v->run->exit_reason == KVM_EXIT_IO) {
			if (!handle_io(v))
				break;
			continue;
		}
		if (v->run->exit_reason == KVM_EXIT_MMIO && vmm->cfg->kernel) {
			vmm_linux_mmio(v);
			continue;
		}
		if (v->run->exit_reason == KVM_EXIT_HLT) {
			vcpu_halted(v);
			return NULL;
		}
		if (v->run->exit_reason == KVM_EXIT_INTR)
			continue;
		report_exit(v);
		return NULL;
	}
	return NULL;
}

int vmm_vcpus_start(struct vmm *vmm, nk_error **err)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigset_t kick;

	/* No SA_RESTART: the kick must make KVM_RUN return EINTR. */
	sigemptyset(&sa.sa_mask);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0)
		return nk_error_set(err, errno, "sigaction: %m");
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);

	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r)
			return nk_error_set(err, r, "vCPU %u: cannot start its thread: %s", i,
					    strerror(r));
		v->thread_started = true;
	}
	/* Every vCPU pinned and checked (or failed) before any enters the guest. */
	pthread_mutex_lock(&vmm->lock);
	for (;;) {
		unsigned ready = 0;
		const char *failure = NULL;
		for (unsigned i = 0; i < vmm->n_vcpus; i++) {
			if (vmm->vcpus[i].state == VCPU_FAILED && !failure)
				failure = vmm->vcpus[i].error ? vmm->vcpus[i].error : "failed";
			ready += vmm->vcpus[i].state != VCPU_CREATED;
		}
		if (failure) {
			int r = nk_error_set(err, EPERM, "%s", failure);
			pthread_mutex_unlock(&vmm->lock);
			return r;
		}
		if (ready == vmm->n_vcpus)
			break;
		pthread_cond_wait(&vmm->cond, &vmm->lock);
	}
	vmm->go = true;
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);
	return 0;
}

static void kick_all(struct vmm *vmm)
{
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		if (!v->thread_started || !v->run)
			continue;
		atomic_store((_Atomic uint8_t *)&v->run->immediate_exit, 1);
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
	}
}

int vmm_pause(struct vmm *vmm, bool pause)
{
	pthread_mutex_lock(&vmm->lock);
	vmm->pause_requested = pause;
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);
	if (!pause)
		return 0;
	kick_all(vmm);
	/* Paused means out of the guest: wait until every running vCPU parks. */
	pthread_mutex_lock(&vmm->lock);
	for (;;) {
		bool all = true;
		for (unsigned i = 0; i < vmm->n_vcpus; i++) {
			enum vmm_vcpu_state s = vmm->vcpus[i].state;
			if (s == VCPU_RUNNING)
				all = false;
		}
		if (all || vmm->stop_requested)
			break;
		pthread_cond_wait(&vmm->cond, &vmm->lock);
	}
	pthread_mutex_unlock(&vmm->lock);
	return 0;
}

bool vmm_all_stopped(struct vmm *vmm)
{
	bool all = true;
	pthread_mutex_lock(&vmm->lock);
	for (unsigned i = 0; i < vmm->n_vcpus; i++)
		if (vmm->vcpus[i].state != VCPU_HALTED && vmm->vcpus[i].state != VCPU_FAILED)
			all = false;
	pthread_mutex_unlock(&vmm->lock);
	return all;
}

void vmm_vcpus_stop(struct vmm *vmm)
{
	pthread_mutex_lock(&vmm->lock);
	vmm->stop_requested = true;
	pthread_cond_broadcast(&vmm->cond);
	pthread_mutex_unlock(&vmm->lock);
	kick_all(vmm);
	for (unsigned i = 0; i < vmm->n_vcpus; i++) {
		if (vmm->vcpus[i].thread_started)
			pthread_join(vmm->vcpus[i].thread, NULL);
		vmm->vcpus[i].thread_started = false;
	}
}

/* Where a stopped vCPU is (its thread joined, so out of KVM_RUN): RIP,
 * RSP, RFLAGS with IF, CR0, CR3 and KVM's run state, or NULL (errno). */
char *vmm_vcpu_where(const struct vmm_vcpu *v)
{
	static const char *const mp_names[] = {"runnable", "uninitialized", "init-received",
					       "halted", "sipi-received"};
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp = {.mp_state = ~0u};
	char *s;

	if (v->fd < 0 || v->thread_started)
		return errno = EBUSY, NULL;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return NULL;
	(void)ioctl(v->fd, KVM_GET_MP_STATE, &mp);
	if (asprintf(&s,
		     "RIP 0x%llx (RSP 0x%llx, RFLAGS 0x%llx: interrupts %s; CR0 0x%llx, "
		     "CR3 0x%llx; %s)",
		     (unsigned long long)regs.rip, (unsigned long long)regs.rsp,
		     (unsigned long long)regs.rflags, regs.rflags & (1u << 9) ? "on" : "off",
		     (unsigned long long)sregs.cr0, (unsigned long long)sregs.cr3,
		     mp.mp_state < ARRAY_SIZE(mp_names) ? mp_names[mp.mp_state] : "state ?") < 0)
		return errno = ENOMEM, NULL;
	return s;
}

void vmm_kvm_close(struct vmm *vmm)
{
	for (unsigned i = 0; vmm->vcpus && i < vmm->n_vcpus; i++) {
		struct vmm_vcpu *v = &vmm->vcpus[i];
		if (v->run)
			munmap(v->run, v->run_size);
		v->run = NULL;
		if (v->fd >= 0)
			close(v->fd);
		v->fd = -1;
	}
	if (vmm->vm_fd >= 0)
		close(vmm->vm_fd);
	vmm->vm_fd = -1;
	if (vmm->kvm_fd >= 0)
		close(vmm->kvm_fd);
	vmm->kvm_fd = -1;
}
