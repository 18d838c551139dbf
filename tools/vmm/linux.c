/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Linux guest: the kernel and initrd read and placed before anything is
 * created, guest RAM set up for the 64-bit entry (boot.c's layout), the
 * ACPI tables of the guest's NUMA topology, and the little hardware the
 * kernel talks to through I/O ports: a 16550 UART at 0x3f8 on IRQ 4 (its
 * line on stdio, a pty, a file or a unix socket: --console), the FADT's
 * fixed hardware (the power button's event, power-off and reset registers,
 * the PM timer) and the CMOS RTC (rtc.c).  Interrupt controllers and the
 * PIT are KVM's own (kvm.c).
 */
#include <limits.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>

#include "vmm.h"

#define DEFAULT_CMDLINE "console=ttyS0 reboot=acpi panic=-1"

int vmm_guest_numa_build(const struct vmm_config *cfg, const struct vmm_layout *l,
			 const nk_topo *topo, struct vmm_guest_numa *ret, nk_error **err)
{
	unsigned n = l->n_guest_nodes;
	int host[NKG_MAX_VCPUS];

	if (n == 0 || n > NKG_MAX_VCPUS)
		return nk_error_set(err, EINVAL, "%u guest nodes: 1 to %d", n, NKG_MAX_VCPUS);
	if (cfg->n_zones > ARRAY_SIZE(ret->mem))
		return nk_error_set(err, EINVAL, "%zu zones: a Linux guest takes %zu at most",
				    cfg->n_zones, ARRAY_SIZE(ret->mem));
	memset(ret, 0, sizeof(*ret));
	for (unsigned v = 0; v < cfg->vcpus; v++)
		for (size_t i = 0; i < cfg->n_numa; i++)
			if (v >= cfg->numa[i].first_vcpu &&
			    v - cfg->numa[i].first_vcpu < cfg->numa[i].n_vcpus)
				ret->cpu_node[v] = cfg->numa[i].guest_node;
	for (size_t i = 0; i < cfg->n_zones; i++)
		ret->mem[i] = (struct vmm_acpi_mem){.gpa = cfg->zones[i].gpa,
						    .size_bytes = cfg->zones[i].spec.size_bytes,
						    .node = cfg->zones[i].guest_node};
	for (unsigned g = 0; g < n; g++)
		host[g] = vmm_guest_node_host(cfg, g);
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < n; j++) {
			int d = i == j ? 10 : 20;
			if (i != j && host[i] >= 0 && host[j] >= 0 && topo) {
				int hd = host[i] == host[j]
					     ? 11
					     : nk_topo_distance(topo, host[i], host[j]);
				/* Two guest nodes on one host node are as near
				 * as SLIT allows (10 is for a node itself). */
				if (hd > 10 && hd < 255)
					d = hd;
			}
			ret->distance[i * n + j] = (uint8_t)d;
		}
	ret->spec = (struct vmm_acpi_spec){
	    .n_cpus = cfg->vcpus,
	    .n_nodes = n,
	    .cpu_node = ret->cpu_node,
	    .mem = ret->mem,
	    .n_mem = cfg->n_zones,
	    .distance = ret->distance,
	};
	return 0;
}

static int file_size(const char *option, const char *path, uint64_t *ret, nk_error **err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return nk_error_set(err, errno, "%s: cannot use '%s': %m", option, path);
	if (!S_ISREG(st.st_mode))
		return nk_error_set(err, EINVAL, "%s: '%s' is not a regular file", option, path);
	*ret = (uint64_t)st.st_size;
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bzImage's vmlinux, from the cache or inflated here, to boot without
 * the kernel's decompressor; when that cannot be, the bzImage boots as it
 * is and the note says why. */
static void linux_inflate(const struct vmm_config *cfg, struct vmm_linux *lx)
{
	char dir[PATH_MAX], why[256];
	const char *cache = cfg->kernel_cache;
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	nk_error *e = NULL;
	struct stat st;
	uint8_t *elf = NULL;
	size_t size = 0;
	bool cached = false;

	if (!cache && geteuid() == 0)
		cache = "/var/cache/numaksm";
	else if (!cache && xdg && xdg[0] == '/')
		cache = (snprintf(dir, sizeof(dir), "%s/numaksm", xdg), dir);
	else if (!cache && home && home[0] == '/')
		cache = (snprintf(dir, sizeof(dir), "%s/.cache/numaksm", home), dir);
	double t0 = mono_s();
	if (stat(cfg->kernel, &st) < 0 ||
	    vmm_vmlinux_get(&lx->image, &st, cache, &elf, &size, &cached, why, sizeof(why), &e) <
		0 ||
	    vmm_vmlinux_parse(elf, size, &lx->vmlinux, &e) < 0) {
		snprintf(lx->boot_note, sizeof(lx->boot_note),
			 "the kernel boots through its decompressor: %s",
			 e ? nk_error_message(e) : strerror(errno));
		nk_error_free(e);
		vmm_vmlinux_put(elf, size, cached);
		return;
	}
	lx->vmlinux_file = elf;
	lx->vmlinux_size = size;
	lx->vmlinux_cached = cached;
	snprintf(lx->boot_note, sizeof(lx->boot_note),
		 "the kernel boots at its vmlinux entry, %zu MiB %s in %.2f s%s%s", size >> 20,
		 cached ? "read from the cache" : "inflated here", mono_s() - t0, *why ? "; " : "",
		 why);
}

int vmm_linux_prepare(const struct vmm_config *cfg, struct vmm_linux *ret, nk_error **err)
{
	struct vmm_ram_range ram[32];
	uint64_t kernel_size = 0, initrd_size = 0;
	struct vmm_linux lx = {.cmdline = cfg->cmdline ? cfg->cmdline : DEFAULT_CMDLINE};
	int r;

	if (cfg->n_zones > ARRAY_SIZE(ram))
		return nk_error_set(err, EINVAL, "at most %zu zones", ARRAY_SIZE(ram));
	r = file_size("--kernel", cfg->kernel, &kernel_size, err);
	if (r < 0)
		return r;
	if (cfg->initrd) {
		r = file_size("--initrd", cfg->initrd, &initrd_size, err);
		if (r < 0)
			return r;
		if (!initrd_size)
			return nk_error_set(err, EINVAL, "--initrd: '%s' is empty", cfg->initrd);
	}
	if (kernel_size > (1ull << 30))
		return nk_error_set(err, EFBIG, "--kernel: '%s' is larger than 1 GiB", cfg->kernel);
	lx.kernel_file = malloc(kernel_size ? kernel_size : 1);
	if (!lx.kernel_file)
		return -ENOMEM;
	r = vmm_read_file("--kernel", cfg->kernel, lx.kernel_file, kernel_size, err);
	if (r >= 0)
		r = vmm_bzimage_parse(lx.kernel_file, kernel_size, &lx.image, err);
	if (r < 0) {
		free(lx.kernel_file);
		return nk_error_prefix(err, "--kernel %s", cfg->kernel);
	}
	for (size_t i = 0; i < cfg->n_zones; i++)
		ram[i] = (struct vmm_ram_range){cfg->zones[i].gpa, cfg->zones[i].spec.size_bytes,
						cfg->zones[i].spec.id};
	r = vmm_e820_build(ram, cfg->n_zones, &lx.e820, err);
	if (r >= 0 && cfg->kernel_inflate)
		linux_inflate(cfg, &lx);
	if (r >= 0 && lx.vmlinux_file)
		r = vmm_boot_plan_vmlinux(&lx.image, &lx.vmlinux, &lx.e820, initrd_size, lx.cmdline,
					  &lx.plan, err);
	else if (r >= 0)
		r = vmm_boot_plan(&lx.image, &lx.e820, initrd_size, lx.cmdline, &lx.plan, err);
	if (r < 0) {
		free(lx.kernel_file);
		vmm_vmlinux_put(lx.vmlinux_file, lx.vmlinux_size, lx.vmlinux_cached);
		return r;
	}
	*ret = lx;
	return 0;
}

void vmm_linux_done(struct vmm_linux *lx)
{
	free(lx->kernel_file);
	vmm_vmlinux_put(lx->vmlinux_file, lx->vmlinux_size, lx->vmlinux_cached);
	*lx = (struct vmm_linux){0};
}

/* ---- guest RAM ------------------------------------------------------------ */

static void *guest(struct vmm *vmm, uint64_t gpa, uint64_t len, const char *what, nk_error **err)
{
	void *p = vmm_gpa_to_host(vmm, gpa, len);
	if (!p)
		nk_error_set(err, ERANGE, "%s [0x%llx, 0x%llx) is not in guest RAM", what,
			     (unsigned long long)gpa, (unsigned long long)(gpa + len));
	return p;
}

static int linux_load(struct vmm *vmm, nk_error **err)
{
	const struct vmm_linux *lx = &vmm->linux_boot;
	const struct vmm_boot_plan *p = &lx->plan;
	struct vmm_guest_numa numa;
	size_t acpi_len = 0;
	int r;

	void *gdt = guest(vmm, VMM_BOOT_GDT_GPA, 5 * 8, "the GDT", err);
	void *pt = guest(vmm, VMM_BOOT_PT_GPA, VMM_BOOT_PT_SIZE, "the page tables", err);
	void *bp = guest(vmm, VMM_BOOT_PARAMS_GPA, VMM_BP_SIZE, "boot_params", err);
	char *cmdline = guest(vmm, p->cmdline_gpa, p->cmdline_len + 1, "the command line", err);
	void *acpi = guest(vmm, VMM_ACPI_GPA, VMM_ACPI_MAX, "the ACPI tables", err);
	void *kernel =
	    lx->vmlinux_file
		? guest(vmm, p->kernel_gpa, p->kernel_end - p->kernel_gpa, "the kernel", err)
		: guest(vmm, p->kernel_gpa, lx->image.kernel_size, "the kernel", err);
	void *initrd =
	    p->initrd_size ? guest(vmm, p->initrd_gpa, p->initrd_size, "the initrd", err) : NULL;
	if (!gdt || !pt || !bp || !cmdline || !acpi || !kernel || (p->initrd_size && !initrd))
		return -ERANGE;

	r = vmm_guest_numa_build(vmm->cfg, &vmm->layout, vmm->topo, &numa, err);
	if (r < 0)
		return r;
	r = vmm_acpi_build(&numa.spec, VMM_ACPI_GPA, acpi, VMM_ACPI_MAX, &acpi_len, err);
	if (r < 0)
		return r;
	if (lx->vmlinux_file) {
		const struct vmm_vmlinux *v = &lx->vmlinux;
		for (unsigned i = 0; i < v->n; i++) {
			uint8_t *at = (uint8_t *)kernel + (v->seg[i].paddr - p->kernel_gpa);
			memcpy(at, v->elf + v->seg[i].offset, v->seg[i].filesz);
			memset(at + v->seg[i].filesz, 0, v->seg[i].memsz - v->seg[i].filesz);
		}
	} else {
		memcpy(kernel, lx->image.kernel, lx->image.kernel_size);
	}
	if (initrd) {
		r = vmm_read_file("--initrd", vmm->cfg->initrd, initrd, p->initrd_size, err);
		if (r < 0)
			return r;
	}
	memcpy(cmdline, lx->cmdline, p->cmdline_len + 1);
	vmm_boot_params_write(bp, &lx->image, p, &lx->e820, VMM_ACPI_GPA);
	vmm_boot_gdt(gdt);
	vmm_boot_page_tables(pt);
	return 0;
}

/* ---- the 16550 UART ------------------------------------------------------- */

#define SERIAL_PORT 0x3f8
#define SERIAL_IRQ  4

#define UART_IER_RDI  0x01
#define UART_IER_THRI 0x02
#define UART_IIR_NONE 0x01
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI  0x04
#define UART_IIR_FIFO 0xc0
#define UART_FCR_FIFO 0x01
#define UART_LCR_DLAB 0x80
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_MSR_DCD  0x80
#define UART_MSR_DSR  0x20
#define UART_MSR_CTS  0x10

#define SERIAL_RX_MAX 4096
#define CONSOLE_KEEP  16384 /* socket: output kept while no client is there */

/*
 * The line's other end (--console).  The vCPUs write out_fd under the
 * lock; only the main loop reads in_fd and changes the fds, under the
 * lock too.  Writes to a pty or a socket client never block: what does
 * not fit is dropped, as on a line nobody listens to.
 */
struct vmm_serial {
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_pending; /* a "transmitter empty" interrupt is owed */
	bool irq_level;
	enum nk_vmm_console_mode mode;
	int out_fd, in_fd; /* -1: none (a socket without a client, input ended) */
	int listen_fd;	   /* socket: where the next client connects */
	int pty_slave;	   /* pty: held open, so that the master never hangs up */
	char pty_path[64];
	const char *socket_path; /* socket: unlinked at the end */
	bool client_eof;	 /* socket: the client sent all it will */
	uint64_t bytes_out;
	uint8_t rx[SERIAL_RX_MAX]; /* received, not yet read by the guest */
	size_t rx_head, rx_len;
	uint8_t kept[CONSOLE_KEEP]; /* socket: the last output, for the next client */
	size_t kept_head, kept_len;
};

static uint8_t serial_iir(const struct vmm_serial *s)
{
	uint8_t fifo = s->fcr & UART_FCR_FIFO ? UART_IIR_FIFO : 0;
	if ((s->ier & UART_IER_RDI) && s->rx_len)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_pending)
		return fifo | UART_IIR_THRI;
	return fifo | UART_IIR_NONE;
}

static void serial_update_irq(struct vmm *vmm, struct vmm_serial *s)
{
	bool level = !(serial_iir(s) & UART_IIR_NONE);
	if (level == s->irq_level)
		return;
	struct kvm_irq_level irq = {.irq = SERIAL_IRQ, .level = level};
	if (ioctl(vmm->vm_fd, KVM_IRQ_LINE, &irq) == 0)
		s->irq_level = level;
}

static void serial_write_out(struct vmm_serial *s, uint8_t c)
{
	s->bytes_out++;
	if (s->out_fd < 0) {
		if (s->mode != NK_VMM_CONSOLE_SOCKET)
			return;
		if (s->kept_len == CONSOLE_KEEP)
			s->kept_head = (s->kept_head + 1) % CONSOLE_KEEP, s->kept_len--;
		s->kept[(s->kept_head + s->kept_len++) % CONSOLE_KEEP] = c;
		return;
	}
	for (;;) {
		ssize_t n = write(s->out_fd, &c, 1);
		if (n >= 0 || errno != EINTR)
			return;
	}
}

static void serial_out(struct vmm *vmm, unsigned reg, uint8_t v)
{
	struct vmm_serial *s = vmm->serial;
	bool dlab = s->lcr & UART_LCR_DLAB;

	switch (reg) {
	case 0:
		if (dlab) {
			s->dll = v;
		} else {
			/* Sent at once (looped back to nothing in loop mode). */
			if (!(s->mcr & UART_MCR_LOOP))
				serial_write_out(s, v);
			s->thr_pending = true;
		}
		break;
	case 1:
		if (dlab) {
			s->dlm = v;
		} else {
			/* Enabling THRI with the transmitter empty raises it. */
			if ((v & UART_IER_THRI) && !(s->ier & UART_IER_THRI))
				s->thr_pending = true;
			s->ier = v & 0x0f;
		}
		break;
	case 2:
		s->fcr = v;
		break;
	case 3:
		s->lcr = v;
		break;
	case 4:
		s->mcr = v & 0x1f;
		break;
	case 7:
		s->scr = v;
		break;
	default:
		break;
	}
	serial_update_irq(vmm, s);
}

static uint8_t serial_in(struct vmm *vmm, unsigned reg)
{
	struct vmm_serial *s = vmm->serial;
	bool dlab = s->lcr & UART_LCR_DLAB;
	uint8_t v = 0;

	switch (reg) {
	case 0:
		if (dlab) {
			v = s->dll;
		} else if (s->rx_len) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_MAX;
			s->rx_len--;
		}
		break;
	case 1:
		v = dlab ? s->dlm : s->ier;
		break;
	case 2:
		v = serial_iir(s);
		/* Reading IIR acknowledges the THRI it reports. */
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_pending = false;
		break;
	case 3:
		v = s->lcr;
		break;
	case 4:
		v = s->mcr;
		break;
	case 5:
		v = UART_LSR_THRE | UART_LSR_TEMT | (s->rx_len ? UART_LSR_DR : 0);
		break;
	case 6:
		/* In loop mode the modem inputs are the MCR's outputs. */
		if (s->mcr & UART_MCR_LOOP)
			v = (uint8_t)((s->mcr & 0x0c) << 4 | (s->mcr & 0x01) << 5 |
				      (s->mcr & 0x02) << 3);
		else
			v = UART_MSR_DCD | UART_MSR_DSR | UART_MSR_CTS;
		break;
	case 7:
		v = s->scr;
		break;
	default:
		break;
	}
	serial_update_irq(vmm, s);
	return v;
}

/* ---- the console (the serial line's other end) --------------------------- */

static int console_pty(struct vmm_serial *s, nk_error **err)
{
	struct termios t;
	int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		nk_error_set(err, errno, "--console pty: posix_openpt: %m");
		return nk_error_hint(err, "is devpts mounted on /dev/pts, with /dev/ptmx?");
	}
	s->out_fd = s->in_fd = fd;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, s->pty_path, sizeof(s->pty_path)))
		return nk_error_set(err, errno, "--console pty: cannot set up the pty: %m");
	s->pty_slave = open(s->pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s->pty_slave < 0)
		return nk_error_set(err, errno, "--console pty: cannot open %s: %m", s->pty_path);
	/* Raw: the guest's bytes as they are, no echo, no line editing. */
	if (tcgetattr(s->pty_slave, &t) < 0)
		return nk_error_set(err, errno, "--console pty: %s: tcgetattr: %m", s->pty_path);
	cfmakeraw(&t);
	if (tcsetattr(s->pty_slave, TCSANOW, &t) < 0)
		return nk_error_set(err, errno, "--console pty: %s: tcsetattr: %m", s->pty_path);
	return 0;
}

/* A socket left by a VMM that is gone is replaced; a live one, or
 * anything else at the path, is not. */
static int console_listen(struct vmm_serial *s, const char *path, nk_error **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(addr.sun_path))
		return nk_error_set(err, ENAMETOOLONG, "--console socket:%s: the path is too long",
				    path);
	strcpy(addr.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return nk_error_set(err, EEXIST,
					    "--console socket:%s: the path exists and is not a "
					    "socket: remove it or give another path",
					    path);
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live =
		    probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (live)
			return nk_error_set(err, EADDRINUSE,
					    "--console socket:%s: another program listens on it",
					    path);
		unlink(path);
	}
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0)
		return nk_error_set(err, errno, "--console socket:%s: socket: %m", path);
	/* 0600 from the start: no other thread creates files meanwhile. */
	mode_t old = umask(0177);
	r = bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0)
		return nk_error_set(err, errno, "--console socket:%s: bind: %m", path);
	s->socket_path = path;
	if (listen(s->listen_fd, 1) < 0)
		return nk_error_set(err, errno, "--console socket:%s: listen: %m", path);
	return 0;
}

int vmm_linux_console_open(struct vmm *vmm, nk_error **err)
{
	const struct vmm_config *cfg = vmm->cfg;
	struct vmm_serial *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->mode = cfg->console;
	s->out_fd = s->in_fd = s->listen_fd = s->pty_slave = -1;
	vmm->serial = s;
	switch (s->mode) {
	case NK_VMM_CONSOLE_STDIO:
		s->out_fd = STDOUT_FILENO;
		s->in_fd = STDIN_FILENO;
		return 0;
	case NK_VMM_CONSOLE_PTY:
		return console_pty(s, err);
	case NK_VMM_CONSOLE_FILE:
		s->out_fd =
		    open(cfg->console_path,
			 O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
		if (s->out_fd < 0 && errno == ELOOP)
			return nk_error_set(err, ELOOP,
					    "--console file:%s: the path is a symbolic link: give "
					    "the path it points to",
					    cfg->console_path);
		if (s->out_fd < 0)
			return nk_error_set(err, errno, "--console file:%s: %m", cfg->console_path);
		return 0;
	case NK_VMM_CONSOLE_SOCKET:
		return console_listen(s, cfg->console_path, err);
	case NK_VMM_CONSOLE_NONE: /* not a --console mode */
		break;
	}
	return 0;
}

const char *vmm_linux_console_path(struct vmm *vmm)
{
	const struct vmm_serial *s = vmm->serial;
	if (!s || s->mode == NK_VMM_CONSOLE_STDIO)
		return NULL;
	return s->mode == NK_VMM_CONSOLE_PTY ? s->pty_path : vmm->cfg->console_path;
}

bool vmm_linux_console_written(struct vmm *vmm)
{
	struct vmm_serial *s = vmm->serial;
	if (!s)
		return false;
	pthread_mutex_lock(&s->lock);
	bool written = s->bytes_out > 0;
	pthread_mutex_unlock(&s->lock);
	return written;
}

void vmm_linux_console_poll(struct vmm *vmm, struct pollfd *fds)
{
	const struct vmm_serial *s = vmm->serial;
	fds[0] = (struct pollfd){.fd = -1};
	fds[1] = (struct pollfd){.fd = -1};
	if (!s)
		return;
	if (s->in_fd >= 0)
		fds[0] = (struct pollfd){.fd = s->in_fd, .events = s->client_eof ? 0 : POLLIN};
	/* One client at a time: the next waits in the backlog. */
	if (s->listen_fd >= 0 && s->in_fd < 0)
		fds[1] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
}

/* Called with the lock held. */
static void client_drop(struct vmm_serial *s)
{
	close(s->in_fd);
	s->in_fd = s->out_fd = -1;
	s->client_eof = false;
}

static void client_accept(struct vmm_serial *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->in_fd = s->out_fd = fd;
	/* What the guest wrote meanwhile, oldest first, as far as it fits. */
	while (s->kept_len) {
		size_t n = s->kept_len;
		if (n > CONSOLE_KEEP - s->kept_head)
			n = CONSOLE_KEEP - s->kept_head;
		ssize_t sent = send(fd, s->kept + s->kept_head, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent <= 0)
			break;
		s->kept_head = (s->kept_head + (size_t)sent) % CONSOLE_KEEP;
		s->kept_len -= (size_t)sent;
	}
	s->kept_head = s->kept_len = 0;
	pthread_mutex_unlock(&s->lock);
}

void vmm_linux_console_events(struct vmm *vmm, const struct pollfd *fds)
{
	struct vmm_serial *s = vmm->serial;
	uint8_t buf[256];
	ssize_t n = 0;

	if (!s)
		return;
	if (fds[1].revents)
		client_accept(s);
	if (fds[0].fd < 0 || !fds[0].revents)
		return;
	if (fds[0].revents & POLLIN) {
		n = read(s->in_fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
	}
	pthread_mutex_lock(&s->lock);
	if (n > 0) {
		/* What does not fit while the guest is not reading is lost,
		 * as on a real line. */
		for (ssize_t i = 0; i < n && s->rx_len < SERIAL_RX_MAX; i++)
			s->rx[(s->rx_head + s->rx_len++) % SERIAL_RX_MAX] = buf[i];
		serial_update_irq(vmm, s);
	} else if (s->mode != NK_VMM_CONSOLE_SOCKET) {
		s->in_fd = -1; /* end of input: the guest's console stays */
	} else if (n == 0 && !(fds[0].revents & (POLLHUP | POLLERR))) {
		s->client_eof = true; /* half-closed: it still reads */
	} else {
		client_drop(s); /* gone: the next client may connect */
	}
	pthread_mutex_unlock(&s->lock);
}

void vmm_linux_close(struct vmm *vmm)
{
	struct vmm_serial *s = vmm->serial;
	if (s) {
		if (s->mode != NK_VMM_CONSOLE_STDIO && s->out_fd >= 0)
			close(s->out_fd);
		if (s->pty_slave >= 0)
			close(s->pty_slave);
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		if (s->socket_path)
			unlink(s->socket_path);
		pthread_mutex_destroy(&s->lock);
		free(s);
		vmm->serial = NULL;
	}
	vmm_linux_done(&vmm->linux_boot);
}

/* ---- I/O exits ------------------------------------------------------------ */

#define I8042_COMMAND_PORT 0x64
#define I8042_RESET	   0xfe

/* The guest asked to power off or reset: the vCPU stops, the VMM ends. */
static bool guest_ends(struct vmm *vmm, bool reboot)
{
	pthread_mutex_lock(&vmm->lock);
	if (reboot)
		vmm->rebooted = true;
	else
		vmm->powered_off = true;
	pthread_mutex_unlock(&vmm->lock);
	return false;
}

/* A PM timer tick count: 24 bits at 3.579545 MHz of the monotonic clock. */
static uint32_t pm_timer(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	uint64_t ticks = (uint64_t)t.tv_sec * VMM_ACPI_PM_TIMER_HZ +
			 (uint64_t)t.tv_nsec * VMM_ACPI_PM_TIMER_HZ / 1000000000u;
	return (uint32_t)(ticks & 0xffffff);
}

/* The SCI follows the PM1 event block.  Called with the lock held. */
static void sci_update(struct vmm *vmm)
{
	bool level = vmm_acpi_pm1_sci(&vmm->pm1);
	if (level == vmm->sci_level)
		return;
	struct kvm_irq_level irq = {.irq = VMM_ACPI_SCI_IRQ, .level = level};
	if (ioctl(vmm->vm_fd, KVM_IRQ_LINE, &irq) == 0)
		vmm->sci_level = level;
}

bool vmm_linux_power_button(struct vmm *vmm)
{
	pthread_mutex_lock(&vmm->lock);
	bool heard = vmm_acpi_pm1_power_button(&vmm->pm1);
	sci_update(vmm);
	pthread_mutex_unlock(&vmm->lock);
	return heard;
}

/* The ACPI fixed hardware: @return false when the guest powers off or
 * resets; reads in *value. */
static bool acpi_io(struct vmm *vmm, uint16_t port, size_t size, bool out, uint32_t *value)
{
	if (port < VMM_ACPI_PM1A_CNT_PORT) {
		pthread_mutex_lock(&vmm->lock);
		if (out)
			vmm_acpi_pm1_write(&vmm->pm1, port, size, *value);
		else
			*value = vmm_acpi_pm1_read(&vmm->pm1, port, size);
		sci_update(vmm);
		pthread_mutex_unlock(&vmm->lock);
		return true;
	}
	if (out) {
		if (port == VMM_ACPI_PM1A_CNT_PORT && (*value & VMM_ACPI_PM1_SLP_EN) &&
		    VMM_ACPI_PM1_SLP_TYP(*value) == VMM_ACPI_S5_TYPE)
			return guest_ends(vmm, false);
		if (port == VMM_ACPI_RESET_PORT && (*value & 0xff) == VMM_ACPI_RESET_VALUE)
			return guest_ends(vmm, true);
		return true;
	}
	if (port == VMM_ACPI_PM1A_CNT_PORT)
		*value = VMM_ACPI_PM1_SCI_EN; /* in ACPI mode, awake */
	else if (port == VMM_ACPI_PM_TMR_PORT)
		*value = pm_timer();
	else
		*value = 0;
	return true;
}

static enum vmm_exit_kind exit_kind(uint16_t port)
{
	if (port >= SERIAL_PORT && port < SERIAL_PORT + 8)
		return VMM_EXIT_SERIAL;
	if (port == VMM_ACPI_PM_TMR_PORT)
		return VMM_EXIT_PM_TIMER;
	if (port >= VMM_ACPI_PM1A_EVT_PORT && port <= VMM_ACPI_RESET_PORT)
		return VMM_EXIT_ACPI;
	if (port == VMM_RTC_INDEX_PORT || port == VMM_RTC_DATA_PORT)
		return VMM_EXIT_RTC;
	return VMM_EXIT_OTHER_IO;
}

bool vmm_linux_io(struct vmm_vcpu *v)
{
	struct vmm *vmm = v->vmm;
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint16_t port = run->io.port;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;
	size_t size = run->io.size <= 4 ? run->io.size : 4;

	v->io_exits++;
	v->exits[exit_kind(port)]++;
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		uint32_t value = 0;
		if (port >= SERIAL_PORT && port < SERIAL_PORT + 8) {
			pthread_mutex_lock(&vmm->serial->lock);
			if (out)
				serial_out(vmm, port - SERIAL_PORT, data[0]);
			else
				data[0] = serial_in(vmm, port - SERIAL_PORT);
			pthread_mutex_unlock(&vmm->serial->lock);
			continue;
		}
		if (port >= VMM_ACPI_PM1A_EVT_PORT && port <= VMM_ACPI_RESET_PORT) {
			memcpy(&value, data, size);
			if (!acpi_io(vmm, port, size, out, &value))
				return false;
			if (!out)
				memcpy(data, &value, size);
			continue;
		}
		if (port == VMM_RTC_INDEX_PORT || port == VMM_RTC_DATA_PORT) {
			pthread_mutex_lock(&vmm->lock);
			if (out)
				vmm_rtc_out(&vmm->rtc, port, data[0]);
			else
				data[0] = vmm_rtc_in(&vmm->rtc, port);
			pthread_mutex_unlock(&vmm->lock);
			continue;
		}
		if (out && port == I8042_COMMAND_PORT && data[0] == I8042_RESET)
			return guest_ends(vmm, true);
		/* Nothing else is there: reads float high, writes vanish. */
		if (!out)
			memset(data, 0xff, run->io.size);
	}
	return true;
}

bool vmm_linux_ended(struct vmm *vmm, const char **ret_how)
{
	bool ended;
	pthread_mutex_lock(&vmm->lock);
	*ret_how = vmm->powered_off ? "powered off" : vmm->rebooted ? "rebooted" : "failed";
	ended = vmm->powered_off || vmm->rebooted;
	for (unsigned i = 0; i < vmm->n_vcpus; i++)
		ended |= vmm->vcpus[i].state == VCPU_FAILED;
	pthread_mutex_unlock(&vmm->lock);
	return ended;
}

void vmm_linux_exits(const struct vmm *vmm, uint64_t n[VMM_EXIT_KINDS])
{
	memset(n, 0, VMM_EXIT_KINDS * sizeof(n[0]));
	for (unsigned i = 0; vmm->vcpus && i < vmm->n_vcpus; i++)
		for (int k = 0; k < VMM_EXIT_KINDS; k++)
			n[k] += vmm->vcpus[i].exits[k];
}

void vmm_linux_mmio(struct vmm_vcpu *v)
{
	/* No device is memory-mapped but the APICs, which KVM handles. */
	v->exits[VMM_EXIT_MMIO]++;
	if (!v->run->mmio.is_write)
		memset(v->run->mmio.data, 0xff, sizeof(v->run->mmio.data));
}

int vmm_linux_setup(struct vmm *vmm, nk_error **err)
{
	struct vmm_linux *lx = &vmm->linux_boot;
	int r = vmm_linux_console_open(vmm, err);
	if (r < 0)
		return r;
	vmm_rtc_init(&vmm->rtc, NULL);
	r = linux_load(vmm, err);
	/* The kernel is in guest RAM now: its file's copy goes (the plan stays). */
	free(lx->kernel_file);
	lx->kernel_file = NULL;
	lx->image.image = lx->image.kernel = NULL;
	vmm_vmlinux_put(lx->vmlinux_file, lx->vmlinux_size, lx->vmlinux_cached);
	lx->vmlinux_file = NULL;
	lx->vmlinux.elf = NULL;
	return r;
}
