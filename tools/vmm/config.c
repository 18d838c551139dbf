/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * numaksm-vmm's command line, in the style of Cloud Hypervisor:
 *   --memory size=1G,hugepages=2M,mergeable=on,policy=bind,nodes=0
 *   --memory-zone id=z0,size=512M,nodes=0 --numa guest_node=0,cpus=0-1,zones=z0
 *   --cpus count=4,threads=2,policy=dedicated,smt=isolate
 * Everything is checked here and in layout.c, before anything is created.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "numaksm/vmm.h"
#include "vmm.h"

void vmm_config_init(struct vmm_config *cfg)
{
	*cfg = (struct vmm_config){
	    .vcpus = 1,
	    .threads_per_core = 1,
	    .pin_policy = NK_PIN_SHARED,
	    .pin_smt = NK_PIN_SMT_PREFER,
	    .pin = true,
	    .cpuid_pv = true,
	    .kernel_inflate = true,
	    .stop_timeout_s = VMM_STOP_TIMEOUT_DEFAULT,
	    .workload = {.mode = NKG_MODE_WRITE, .passes = 1, .verify = true},
	};
}

void vmm_config_done(struct vmm_config *cfg)
{
	for (size_t i = 0; i < cfg->n_zones; i++)
		nk_zone_spec_done(&cfg->zones[i].spec);
	free(cfg->zones);
	for (size_t i = 0; i < cfg->n_numa; i++)
		nk_strv_free(cfg->numa[i].zones);
	free(cfg->numa);
	for (size_t i = 0; i < cfg->n_loads; i++)
		free(cfg->loads[i].path);
	free(cfg->loads);
	free(cfg->name);
	free(cfg->runtime_dir);
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	free(cfg->kernel_cache);
	free(cfg->console_path);
	*cfg = (struct vmm_config){0};
}

void vmm_usage(FILE *out)
{
	fputs("Usage: numaksm-vmm --name NAME [--memory SPEC | --memory-zone SPEC...] [OPTIONS]\n"
	      "\n"
	      "A KVM VMM whose guest RAM is numaksm zones and whose vCPU threads are pinned\n"
	      "by the numaksm planner.  It boots a Linux kernel (--kernel), giving the guest\n"
	      "the NUMA topology of its zones, or runs a built-in 64-bit guest program that\n"
	      "writes, re-dirties and verifies guest RAM (--workload).\n"
	      "\n"
	      "  --name NAME            the VM's name: control socket RUNDIR/NAME.sock\n"
	      "  --memory SPEC          one zone: size=1G[,hugepages=2M|1G|none][,mergeable=on]\n"
	      "                         [,prefault=on][,policy=bind][,nodes=0][,shared=off]\n"
	      "  --memory-zone SPEC     a named zone: id=z0,size=..., the same keys, and gpa=ADDR\n"
	      "  --numa SPEC            guest_node=N,cpus=A-B,zones=[z0,z1] (vCPUs in node order)\n"
	      "  --cpus SPEC            count=N[,threads=T][,policy=shared|dedicated]\n"
	      "                         [,smt=prefer|isolate|require][,pin=on|off]\n"
	      "  --kernel FILE          boot this x86-64 Linux bzImage (serial console on\n"
	      "                         stdout; ends when the guest powers off or resets)\n"
	      "  --initrd FILE          its initramfs\n"
	      "  --cmdline STR          its command line (default \"console=ttyS0\n"
	      "                         reboot=acpi panic=-1\")\n"
	      "  --kernel-cache DIR|off the kernel inflated from the bzImage, kept here for the\n"
	      "                         next boot (default /var/cache/numaksm as root, else\n"
	      "                         ~/.cache/numaksm); off: the kernel's decompressor\n"
	      "                         inflates it in the guest at every boot\n"
	      "  --cpuid-pv on|off      show KVM's paravirtual CPUID leaves to the guest\n"
	      "                         (default on; off for a guest nested in a KVM guest)\n"
	      "  --stop-timeout SECS    stop presses the guest's power button and waits this\n"
	      "                         long for it to power off, then stops it (default 10;\n"
	      "                         0: at once)\n"
	      "  --console MODE         the guest's serial console: stdio (default: stdout and\n"
	      "                         stdin), pty (a pseudo-terminal, its path logged and in\n"
	      "                         info), file:PATH (output appended, no input) or\n"
	      "                         socket:PATH (a unix socket, one client at a time; up\n"
	      "                         to 16 KiB of output is kept for the next client)\n"
	      "  --boot-timeout SECS    stop the guest, exit 1, if it writes nothing to its\n"
	      "                         console within SECS of starting (default 0: no limit)\n"
	      "  --load FILE@GPA        copy FILE into guest RAM at GPA (repeatable)\n"
	      "  --fill SPEC            host-written content: size=S,zero=P,shared=P,unique=P,\n"
	      "                         patterns=N,seed=N,salt=N\n"
	      "  --workload SPEC        the guest program: mode=write|verify, the --fill keys,\n"
	      "                         passes=N (0: forever), period=MS, redirty=PCT, verify=on\n"
	      "  --hold                 keep running after the guest halts, until stopped\n"
	      "  --json                 print the VM's layout as JSON once it runs\n"
	      "  --force                map guest RAM its nodes (or the host) cannot give now\n"
	      "                         (refused without: the guest would meet the OOM killer)\n"
	      "  --runtime-dir DIR      socket and registry (default $NUMAKSM_RUNTIME_DIR\n"
	      "                         or /run/numaksm)\n"
	      "  -h, --help             this help\n"
	      "\n"
	      "Sizes take K, M, G suffixes (binary).  Zones are laid out from guest physical\n"
	      "address 0 in the order given, each aligned to 2 MiB (1 GiB for 1G pages); the\n"
	      "first 4 MiB hold the guest program, its stacks and page tables.\n"
	      "Exit: 0 the guest ran and verified, or was stopped; 1 an error or a guest\n"
	      "failure (a Linux guest that triple-faults, or is silent past --boot-timeout);\n"
	      "2 bad usage.\n",
	      out);
}

/* Split "a=1,b=[x,y],c=2" at the commas outside brackets; NULL on ENOMEM. */
static char **split_items(const char *text)
{
	size_t n = 0, cap = 4;
	char **items = calloc(cap + 1, sizeof(*items));
	const char *start = text;
	int depth = 0;

	if (!items)
		return NULL;
	for (const char *p = text;; p++) {
		if (*p == '[')
			depth++;
		else if (*p == ']' && depth > 0)
			depth--;
		if (*p && (*p != ',' || depth > 0))
			continue;
		if (p > start) {
			if (n == cap) {
				char **bigger = realloc(items, (2 * cap + 1) * sizeof(*items));
				if (!bigger)
					return nk_strv_free(items);
				items = bigger;
				cap *= 2;
			}
			items[n] = strndup(start, (size_t)(p - start));
			if (!items[n])
				return nk_strv_free(items);
			items[++n] = NULL;
		}
		if (!*p)
			break;
		start = p + 1;
	}
	return items;
}

/* "[a,b]" -> "a,b" in place. */
static char *unbracket(char *value)
{
	size_t len = strlen(value);
	if (len >= 2 && value[0] == '[' && value[len - 1] == ']') {
		value[len - 1] = '\0';
		return value + 1;
	}
	return value;
}

static int parse_on_off(const char *option, const char *key, const char *value, bool *ret,
			nk_error **err)
{
	if (!strcmp(value, "on") || !strcmp(value, "true") || !strcmp(value, "1")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(value, "off") || !strcmp(value, "false") || !strcmp(value, "0")) {
		*ret = false;
		return 0;
	}
	return nk_error_set(err, EINVAL, "%s: %s=%s: expected on or off", option, key, value);
}

static int parse_uint(const char *option, const char *key, const char *value,
		      unsigned long long min, unsigned long long max, uint64_t *ret, nk_error **err)
{
	long long v;
	if (nk_parse_int(value, (long long)min, (long long)max, &v, NULL) < 0)
		return nk_error_set(err, EINVAL,
				    "%s: %s=%s: expected a whole number from %llu to %llu", option,
				    key, value, min, max);
	*ret = (uint64_t)v;
	return 0;
}

/* A guest physical address: 0x1000, 4096, 16M. */
static int parse_gpa(const char *option, const char *value, uint64_t *ret, nk_error **err)
{
	char *end;
	errno = 0;
	if (!strncmp(value, "0x", 2) || !strncmp(value, "0X", 2)) {
		unsigned long long v = strtoull(value, &end, 16);
		if (errno || end == value + 2 || *end)
			goto bad;
		*ret = v;
		return 0;
	}
	if (nk_parse_size(value, ret, NULL) == 0)
		return 0;
bad:
	return nk_error_set(err, EINVAL,
			    "%s: '%s' is not a guest physical address (e.g. 0x1000000 or 16M)",
			    option, value);
}

/* "10", "2.5" or "2.5%" percent as per mille. */
static int parse_permille(const char *option, const char *key, const char *value, uint32_t *ret,
			  nk_error **err)
{
	char *end;
	errno = 0;
	double v = strtod(value, &end);
	if (end != value && *end == '%')
		end++;
	if (errno || end == value || *end || !(v >= 0 && v <= 100))
		return nk_error_set(err, EINVAL, "%s: %s=%s: expected a percentage from 0 to 100",
				    option, key, value);
	*ret = (uint32_t)(v * 10 + 0.5);
	return 0;
}

/* "250", "250ms" or "2s". */
static int parse_ms(const char *option, const char *key, const char *value, uint32_t *ret,
		    nk_error **err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	unsigned long long scale = 1;
	if (!strcmp(end, "s"))
		scale = 1000;
	else if (*end && strcmp(end, "ms"))
		end = (char *)value;
	if (errno || end == value || value[0] == '-' || v > 3600000 / scale)
		return nk_error_set(err, EINVAL,
				    "%s: %s=%s: expected milliseconds (e.g. 250ms or 2s, "
				    "at most an hour)",
				    option, key, value);
	*ret = (uint32_t)(v * scale);
	return 0;
}

static uint64_t name_salt(const char *name)
{
	/* FNV-1a: unique pages differ between VMs of different names. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = name ? name : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	return h;
}

int vmm_content_parse(const char *text, const char *option, struct vmm_content_cfg *c,
		      struct vmm_workload_cfg *w, nk_error **err)
{
	_cleanup_strv_ char **items = split_items(text);
	int zero = -1, shared = -1, unique = -1;

	if (!items)
		return -ENOMEM;
	c->set = true;
	c->content = (struct nkg_content){
	    .zero_pct = 20, .shared_pct = 50, .patterns = 256, .seed = 1, .redirty_permille = 100};
	c->size_bytes = 0;
	bool salt_given = false;
	for (char **item = items; *item; item++) {
		char *key = *item, *value = strchr(key, '=');
		uint64_t v = 0;
		int r;
		if (!value)
			return nk_error_set(err, EINVAL, "%s: '%s' is not key=value", option, key);
		*value++ = '\0';
		if (!strcmp(key, "size")) {
			if (nk_parse_size(value, &c->size_bytes, NULL) < 0 || c->size_bytes == 0)
				return nk_error_set(err, EINVAL,
						    "%s: size=%s is not a size (e.g. 64M)", option,
						    value);
		} else if (!strcmp(key, "zero") || !strcmp(key, "shared") ||
			   !strcmp(key, "unique")) {
			r = parse_uint(option, key, value, 0, 100, &v, err);
			if (r < 0)
				return r;
			*(key[0] == 'z' ? &zero : key[0] == 's' ? &shared : &unique) = (int)v;
		} else if (!strcmp(key, "patterns")) {
			r = parse_uint(option, key, value, 1, 1u << 20, &v, err);
			if (r < 0)
				return r;
			c->content.patterns = (uint32_t)v;
		} else if (!strcmp(key, "seed") || !strcmp(key, "salt")) {
			if (nk_parse_u64(value, &v, NULL) < 0)
				return nk_error_set(err, EINVAL, "%s: %s=%s: expected a number",
						    option, key, value);
			if (key[1] == 'e')
				c->content.seed = v;
			else {
				c->content.salt = v;
				salt_given = true;
			}
		} else if (w && !strcmp(key, "mode")) {
			if (!strcmp(value, "write"))
				w->mode = NKG_MODE_WRITE;
			else if (!strcmp(value, "verify"))
				w->mode = NKG_MODE_VERIFY;
			else
				return nk_error_set(err, EINVAL,
						    "%s: mode=%s: expected write or verify", option,
						    value);
		} else if (w && !strcmp(key, "passes")) {
			r = parse_uint(option, key, value, 0, 1u << 30, &v, err);
			if (r < 0)
				return r;
			w->passes = (uint32_t)v;
		} else if (w && !strcmp(key, "period")) {
			r = parse_ms(option, key, value, &w->period_ms, err);
			if (r < 0)
				return r;
		} else if (w && !strcmp(key, "redirty")) {
			r = parse_permille(option, key, value, &c->content.redirty_permille, err);
			if (r < 0)
				return r;
		} else if (w && !strcmp(key, "verify")) {
			r = parse_on_off(option, key, value, &w->verify, err);
			if (r < 0)
				return r;
		} else {
			return nk_error_set(err, EINVAL, "%s: unknown key '%s'", option, key);
		}
	}
	/* The shares: what is given, the rest to unique pages. */
	if (zero >= 0 || shared >= 0 || unique >= 0) {
		int given =
		    (zero > 0 ? zero : 0) + (shared > 0 ? shared : 0) + (unique > 0 ? unique : 0);
		if (zero < 0 && shared < 0)
			zero = 0, shared = 100 - unique;
		if (zero < 0)
			zero = unique >= 0 ? 100 - shared - unique : 0;
		if (shared < 0)
			shared = unique >= 0 ? 100 - zero - unique : 0;
		if (unique < 0)
			unique = 100 - zero - shared;
		if (given > 100 || zero < 0 || shared < 0 || unique < 0 ||
		    zero + shared + unique != 100)
			return nk_error_set(
			    err, EINVAL,
			    "%s: zero=%d shared=%d unique=%d: the shares must add up "
			    "to 100",
			    option, zero, shared, unique);
		c->content.zero_pct = (uint32_t)zero;
		c->content.shared_pct = (uint32_t)shared;
	}
	if (!salt_given)
		c->content.salt = 0; /* set from the name once it is known */
	return 0;
}

static int parse_zone(struct vmm_config *cfg, const char *option, const char *text, bool named,
		      nk_error **err)
{
	_cleanup_strv_ char **items = split_items(text);
	_cleanup_free_ char *rest = NULL;
	struct vmm_zone_cfg z = {0};
	size_t len = 0;
	int r;

	if (!items)
		return -ENOMEM;
	/* Our own key (gpa=) out, the rest to the zone spec parser. */
	rest = calloc(1, strlen(text) + 1);
	if (!rest)
		return -ENOMEM;
	for (char **item = items; *item; item++) {
		if (!strncmp(*item, "gpa=", 4)) {
			if (!named)
				return nk_error_set(
				    err, EINVAL,
				    "%s: gpa= is for --memory-zone; --memory starts at 0", option);
			r = parse_gpa(option, *item + 4, &z.gpa, err);
			if (r < 0)
				return r;
			z.gpa_given = true;
			continue;
		}
		len += (size_t)sprintf(rest + len, "%s%s", len ? "," : "", *item);
	}
	nk_zone_spec_init(&z.spec);
	z.spec.prefault = true;
	r = nk_zone_spec_parse(rest, &z.spec, err);
	if (r < 0) {
		nk_zone_spec_done(&z.spec);
		return nk_error_prefix(err, "%s %s", option, text);
	}
	if (!named && !z.spec.id && !(z.spec.id = strdup("ram")))
		r = -ENOMEM;
	if (r == 0 && named && !z.spec.id)
		r = nk_error_set(err, EINVAL, "%s %s: every zone needs an id (id=z0)", option,
				 text);
	if (r == 0 && z.spec.size_bytes == 0)
		r = nk_error_set(err, EINVAL, "%s %s: the zone needs a size (size=512M)", option,
				 text);
	for (size_t i = 0; r == 0 && i < cfg->n_zones; i++)
		if (!strcmp(cfg->zones[i].spec.id, z.spec.id))
			r = nk_error_set(err, EINVAL, "%s: zone id '%s' is used twice", option,
					 z.spec.id);
	if (r == 0 && cfg->n_zones >= 32)
		r = nk_error_set(err, E2BIG, "%s: at most 32 zones", option);
	struct vmm_zone_cfg *zones =
	    r == 0 ? realloc(cfg->zones, (cfg->n_zones + 1) * sizeof(z)) : NULL;
	if (r == 0 && !zones)
		r = -ENOMEM;
	if (r < 0) {
		nk_zone_spec_done(&z.spec);
		return r;
	}
	cfg->zones = zones;
	cfg->zones[cfg->n_zones++] = z;
	return 0;
}

static int parse_numa(struct vmm_config *cfg, const char *text, nk_error **err)
{
	_cleanup_strv_ char **items = split_items(text);
	struct vmm_numa_cfg n = {0};
	bool have_node = false, have_cpus = false;
	int r = 0;

	if (!items)
		return -ENOMEM;
	for (char **item = items; r == 0 && *item; item++) {
		char *key = *item, *value = strchr(key, '=');
		uint64_t v = 0;
		if (!value) {
			r = nk_error_set(err, EINVAL, "--numa: '%s' is not key=value", key);
			break;
		}
		*value++ = '\0';
		value = unbracket(value);
		if (!strcmp(key, "guest_node")) {
			r = parse_uint("--numa", key, value, 0, NKG_MAX_VCPUS - 1, &v, err);
			n.guest_node = (unsigned)v;
			have_node = true;
		} else if (!strcmp(key, "cpus")) {
			_cleanup_bitmap_ nk_bitmap *cpus = NULL;
			r = nk_parse_list(value, "vCPU", &cpus, err);
			if (r < 0)
				break;
			int first = nk_bitmap_next(cpus, 0), last = nk_bitmap_last(cpus);
			if (first < 0 || (unsigned)(last - first + 1) != nk_bitmap_weight(cpus)) {
				r = nk_error_set(
				    err, EINVAL,
				    "--numa: cpus=%s: a guest node's vCPUs must be one "
				    "range (e.g. 2-3)",
				    value);
				break;
			}
			n.first_vcpu = (unsigned)first;
			n.n_vcpus = nk_bitmap_weight(cpus);
			have_cpus = true;
		} else if (!strcmp(key, "zones") || !strcmp(key, "memory_zones")) {
			nk_strv_free(n.zones);
			n.zones = split_items(value);
			if (!n.zones)
				r = -ENOMEM;
		} else {
			r = nk_error_set(err, EINVAL, "--numa: unknown key '%s'", key);
		}
	}
	if (r == 0 && (!have_node || !have_cpus || !n.zones || !n.zones[0]))
		r = nk_error_set(err, EINVAL,
				 "--numa %s: needs guest_node=, cpus= and zones= "
				 "(e.g. guest_node=0,cpus=0-1,zones=z0)",
				 text);
	for (size_t i = 0; r == 0 && i < cfg->n_numa; i++)
		if (cfg->numa[i].guest_node == n.guest_node)
			r = nk_error_set(err, EINVAL, "--numa: guest node %u is given twice",
					 n.guest_node);
	struct vmm_numa_cfg *numa =
	    r == 0 ? realloc(cfg->numa, (cfg->n_numa + 1) * sizeof(n)) : NULL;
	if (r == 0 && !numa)
		r = -ENOMEM;
	if (r < 0) {
		nk_strv_free(n.zones);
		return r;
	}
	cfg->numa = numa;
	cfg->numa[cfg->n_numa++] = n;
	return 0;
}

static int parse_cpus(struct vmm_config *cfg, const char *text, nk_error **err)
{
	_cleanup_strv_ char **items = split_items(text);
	if (!items)
		return -ENOMEM;
	for (char **item = items; *item; item++) {
		char *key = *item, *value = strchr(key, '=');
		uint64_t v = 0;
		int r = 0;
		if (!value && strspn(key, "0123456789") == strlen(key)) {
			value = key; /* "--cpus 4" */
			key = "count";
		} else if (!value) {
			return nk_error_set(err, EINVAL, "--cpus: '%s' is not key=value", key);
		} else {
			*value++ = '\0';
		}
		if (!strcmp(key, "count") || !strcmp(key, "boot")) {
			r = parse_uint("--cpus", key, value, 1, NKG_MAX_VCPUS, &v, err);
			cfg->vcpus = (unsigned)v;
		} else if (!strcmp(key, "threads")) {
			r = parse_uint("--cpus", key, value, 1, 8, &v, err);
			cfg->threads_per_core = (unsigned)v;
		} else if (!strcmp(key, "policy")) {
			if (!strcmp(value, "dedicated"))
				cfg->pin_policy = NK_PIN_DEDICATED;
			else if (!strcmp(value, "shared"))
				cfg->pin_policy = NK_PIN_SHARED;
			else
				r = nk_error_set(err, EINVAL,
						 "--cpus: policy=%s: expected dedicated or shared",
						 value);
		} else if (!strcmp(key, "smt")) {
			if (!strcmp(value, "prefer"))
				cfg->pin_smt = NK_PIN_SMT_PREFER;
			else if (!strcmp(value, "isolate"))
				cfg->pin_smt = NK_PIN_SMT_ISOLATE;
			else if (!strcmp(value, "require"))
				cfg->pin_smt = NK_PIN_SMT_REQUIRE;
			else
				r = nk_error_set(
				    err, EINVAL,
				    "--cpus: smt=%s: expected prefer, isolate or require", value);
		} else if (!strcmp(key, "pin")) {
			r = parse_on_off("--cpus", key, value, &cfg->pin, err);
		} else {
			r = nk_error_set(err, EINVAL, "--cpus: unknown key '%s'", key);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_load(struct vmm_config *cfg, const char *text, nk_error **err)
{
	const char *at = strrchr(text, '@');
	struct stat st;
	uint64_t gpa;
	int r;

	if (!at || at == text)
		return nk_error_set(err, EINVAL, "--load %s: expected FILE@GPA (e.g. vmlinuz@16M)",
				    text);
	r = parse_gpa("--load", at + 1, &gpa, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = strndup(text, (size_t)(at - text));
	if (!path)
		return -ENOMEM;
	if (stat(path, &st) < 0)
		return nk_error_set(err, errno, "--load: cannot use '%s': %m", path);
	if (!S_ISREG(st.st_mode))
		return nk_error_set(err, EINVAL, "--load: '%s' is not a regular file", path);
	if (gpa % NKG_PAGE_SIZE)
		return nk_error_set(err, EINVAL, "--load %s: the address must be 4 KiB aligned",
				    text);
	if (cfg->n_loads >= 16)
		return nk_error_set(err, E2BIG, "--load: at most 16 files");
	struct vmm_load_cfg *loads = realloc(cfg->loads, (cfg->n_loads + 1) * sizeof(*loads));
	if (!loads)
		return -ENOMEM;
	cfg->loads = loads;
	cfg->loads[cfg->n_loads++] = (struct vmm_load_cfg){
	    .path = TAKE_PTR(path), .gpa = gpa, .size_bytes = (uint64_t)st.st_size};
	return 0;
}

/* Whole seconds, 0 to an hour. */
static int parse_seconds(const char *option, const char *value, unsigned *ret, nk_error **err)
{
	long long v;
	if (nk_parse_int(value, 0, VMM_STOP_TIMEOUT_MAX, &v, NULL) < 0)
		return nk_error_set(err, EINVAL, "%s: '%s': expected whole seconds from 0 to %d",
				    option, value, VMM_STOP_TIMEOUT_MAX);
	*ret = (unsigned)v;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* The directory `path` would be created in exists and is writable. */
static int check_parent(const char *option, const char *path, nk_error **err)
{
	_cleanup_free_ char *dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) < 0) {
		nk_error_set(err, errno, "%s: cannot create '%s' in '%s': %m", option, path, dir);
		return nk_error_hint(err, "give a path in a directory you can write");
	}
	return 0;
}

/* --console stdio|pty|file:PATH|socket:PATH: the path is checked here and
 * made absolute, the file or socket is made when the guest's devices are. */
static int parse_console(struct vmm_config *cfg, const char *value, nk_error **err)
{
	static const char *const what = "expected stdio, pty, file:PATH or socket:PATH";
	const char *colon = strchr(value, ':'), *path = colon ? colon + 1 : NULL;
	size_t len = colon ? (size_t)(colon - value) : strlen(value);
	struct stat st;
	bool exists;

	if (!colon && !strcmp(value, "stdio"))
		cfg->console = NK_VMM_CONSOLE_STDIO;
	else if (!colon && !strcmp(value, "pty"))
		cfg->console = NK_VMM_CONSOLE_PTY;
	else if (colon && len == 4 && !strncmp(value, "file", len))
		cfg->console = NK_VMM_CONSOLE_FILE;
	else if (colon && len == 6 && !strncmp(value, "socket", len))
		cfg->console = NK_VMM_CONSOLE_SOCKET;
	else
		return nk_error_set(err, EINVAL, "--console: '%s': %s", value, what);
	cfg->console_set = true;
	free(cfg->console_path);
	cfg->console_path = NULL;
	if (cfg->console == NK_VMM_CONSOLE_PTY) {
		/* A pty opened and closed: nothing is left of it. */
		int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			nk_error_set(err, errno, "--console pty: cannot open a pty: %m");
			return nk_error_hint(err, "is devpts mounted on /dev/pts? Else use "
						  "another console, e.g. socket:PATH");
		}
		close(fd);
	}
	if (!path)
		return 0;
	if (!*path)
		return nk_error_set(err, EINVAL,
				    "--console %s: no path: give one after the colon (e.g. "
				    "%s/tmp/vm.console)",
				    value, value);
	/* Absolute, as info and the registry entry give it to readers elsewhere. */
	_cleanup_free_ char *abs = NULL;
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return nk_error_set(
			    err, errno, "--console %s: cannot make '%s' absolute: %m", value, path);
		if (asprintf(&abs, "%s/%s", cwd, path) < 0)
			return -ENOMEM;
		path = abs;
	}
	nk_error *e = NULL;
	int r = nk_vmm_console_check(cfg->console, path, &e);
	if (r < 0) {
		nk_error_set(err, -r, "--console %s: %s", value, nk_error_message(e));
		nk_error_free(e);
		return r;
	}
	if (cfg->console == NK_VMM_CONSOLE_SOCKET &&
	    strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return nk_error_set(err, ENAMETOOLONG,
				    "--console %s: a socket's path has at most %zu characters",
				    value, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	exists = lstat(path, &st) == 0;
	if (!exists && errno != ENOENT)
		return nk_error_set(err, errno, "--console %s: cannot use '%s': %m", value, path);
	if (exists) {
		if (S_ISLNK(st.st_mode))
			return nk_error_set(err, ELOOP,
					    "--console %s: '%s' is a symbolic link: give the "
					    "path it points to",
					    value, path);
		if (cfg->console == NK_VMM_CONSOLE_SOCKET && !S_ISSOCK(st.st_mode))
			return nk_error_set(err, EEXIST,
					    "--console %s: '%s' exists and is not a socket: "
					    "remove it or give another path",
					    value, path);
		if (cfg->console == NK_VMM_CONSOLE_FILE && !S_ISREG(st.st_mode))
			return nk_error_set(err, EINVAL, "--console %s: '%s' is not a regular file",
					    value, path);
		if (cfg->console == NK_VMM_CONSOLE_FILE && access(path, W_OK) < 0)
			return nk_error_set(err, errno, "--console %s: cannot write '%s': %m",
					    value, path);
	}
	if (cfg->console == NK_VMM_CONSOLE_SOCKET || !exists) {
		r = check_parent("--console", path, err);
		if (r < 0)
			return r;
	}
	return set_string(&cfg->console_path, path);
}

/* A Linux guest runs no built-in program: refuse its options. */
static int check_kernel(const struct vmm_config *cfg, nk_error **err)
{
	if (!cfg->kernel) {
		if (cfg->initrd || cfg->cmdline || cfg->stop_timeout_set || cfg->console_set ||
		    cfg->boot_timeout_s)
			return nk_error_set(err, EINVAL, "--%s is for a Linux guest: add --kernel",
					    cfg->initrd		    ? "initrd"
					    : cfg->cmdline	    ? "cmdline"
					    : cfg->stop_timeout_set ? "stop-timeout"
					    : cfg->console_set	    ? "console"
								    : "boot-timeout");
		return 0;
	}
	if (cfg->workload.c.set || cfg->fill.set || cfg->n_loads)
		return nk_error_set(err, EINVAL,
				    "--%s is for the built-in guest program, not a Linux guest "
				    "(--kernel)",
				    cfg->workload.c.set ? "workload"
				    : cfg->fill.set	? "fill"
							: "load");
	if (cfg->hold)
		return nk_error_set(err, EINVAL,
				    "--hold is for the built-in guest program: a Linux guest runs "
				    "until it powers off");
	return 0;
}

int vmm_config_parse(struct vmm_config *cfg, int argc, char **argv, nk_error **err)
{
	enum {
		OPT_MEMORY = 0x100,
		OPT_ZONE,
		OPT_NUMA,
		OPT_CPUS,
		OPT_LOAD,
		OPT_FILL,
		OPT_WORKLOAD,
		OPT_HOLD,
		OPT_FORCE,
		OPT_JSON,
		OPT_RUNDIR,
		OPT_NAME,
		OPT_KERNEL,
		OPT_INITRD,
		OPT_CMDLINE,
		OPT_CPUID_PV,
		OPT_STOP_TIMEOUT,
		OPT_CONSOLE,
		OPT_BOOT_TIMEOUT,
		OPT_KERNEL_CACHE,
	};
	static const struct option options[] = {
	    {"name", required_argument, NULL, OPT_NAME},
	    {"memory", required_argument, NULL, OPT_MEMORY},
	    {"memory-zone", required_argument, NULL, OPT_ZONE},
	    {"numa", required_argument, NULL, OPT_NUMA},
	    {"cpus", required_argument, NULL, OPT_CPUS},
	    {"load", required_argument, NULL, OPT_LOAD},
	    {"fill", required_argument, NULL, OPT_FILL},
	    {"workload", required_argument, NULL, OPT_WORKLOAD},
	    {"hold", no_argument, NULL, OPT_HOLD},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"force", no_argument, NULL, OPT_FORCE},
	    {"runtime-dir", required_argument, NULL, OPT_RUNDIR},
	    {"kernel", required_argument, NULL, OPT_KERNEL},
	    {"initrd", required_argument, NULL, OPT_INITRD},
	    {"cmdline", required_argument, NULL, OPT_CMDLINE},
	    {"cpuid-pv", required_argument, NULL, OPT_CPUID_PV},
	    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
	    {"console", required_argument, NULL, OPT_CONSOLE},
	    {"boot-timeout", required_argument, NULL, OPT_BOOT_TIMEOUT},
	    {"kernel-cache", required_argument, NULL, OPT_KERNEL_CACHE},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool have_memory = false, have_zone = false;
	int opt, r = 0;

	/* 0, not 1: glibc then starts afresh, not inside a group of short
	 * options where an earlier parse (a test's) stopped. */
	optind = 0;
	opterr = 0;
	while (r == 0 && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_NAME:
			/* A name is part of file names: the library's rule. */
			if (nk_vmm_name_check(optarg, err) < 0)
				return nk_error_prefix(err, "--name");
			free(cfg->name);
			cfg->name = strdup(optarg);
			r = cfg->name ? 0 : -ENOMEM;
			break;
		case OPT_MEMORY:
			if (have_memory || have_zone)
				return nk_error_set(
				    err, EINVAL,
				    "--memory is given once, and not with --memory-zone");
			have_memory = true;
			r = parse_zone(cfg, "--memory", optarg, false, err);
			break;
		case OPT_ZONE:
			if (have_memory)
				return nk_error_set(err, EINVAL,
						    "--memory-zone cannot be used with --memory");
			have_zone = true;
			r = parse_zone(cfg, "--memory-zone", optarg, true, err);
			break;
		case OPT_NUMA:
			r = parse_numa(cfg, optarg, err);
			break;
		case OPT_CPUS:
			r = parse_cpus(cfg, optarg, err);
			break;
		case OPT_LOAD:
			r = parse_load(cfg, optarg, err);
			break;
		case OPT_FILL:
			r = vmm_content_parse(optarg, "--fill", &cfg->fill, NULL, err);
			break;
		case OPT_WORKLOAD:
			r = vmm_content_parse(optarg, "--workload", &cfg->workload.c,
					      &cfg->workload, err);
			break;
		case OPT_HOLD:
			cfg->hold = true;
			break;
		case OPT_JSON:
			cfg->json = true;
			break;
		case OPT_FORCE:
			cfg->force = true;
			break;
		case OPT_RUNDIR:
			r = set_string(&cfg->runtime_dir, optarg);
			break;
		case OPT_KERNEL:
			r = set_string(&cfg->kernel, optarg);
			break;
		case OPT_INITRD:
			r = set_string(&cfg->initrd, optarg);
			break;
		case OPT_CMDLINE:
			r = set_string(&cfg->cmdline, optarg);
			break;
		case OPT_CPUID_PV:
			r = parse_on_off("--cpuid-pv", "value", optarg, &cfg->cpuid_pv, err);
			break;
		case OPT_STOP_TIMEOUT:
			r = parse_seconds("--stop-timeout", optarg, &cfg->stop_timeout_s, err);
			cfg->stop_timeout_set = true;
			break;
		case OPT_CONSOLE:
			r = parse_console(cfg, optarg, err);
			break;
		case OPT_BOOT_TIMEOUT:
			r = parse_seconds("--boot-timeout", optarg, &cfg->boot_timeout_s, err);
			break;
		case OPT_KERNEL_CACHE:
			if (!strcmp(optarg, "off")) {
				cfg->kernel_inflate = false;
				break;
			}
			if (optarg[0] != '/') {
				r = nk_error_set(err, EINVAL,
						 "--kernel-cache '%s': give an absolute directory, "
						 "or off",
						 optarg);
				break;
			}
			cfg->kernel_inflate = true;
			r = set_string(&cfg->kernel_cache, optarg);
			break;
		case 'h':
			vmm_usage(stdout);
			return 1;
		default:
			if (optopt && optopt < 0x100)
				return nk_error_set(err, EINVAL, "unknown option '-%c'", optopt);
			if (optopt)
				return nk_error_set(err, EINVAL, "option '%s' needs a value",
						    argv[optind - 1]);
			return nk_error_set(err, EINVAL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (r < 0)
		return r;
	if (optind < argc)
		return nk_error_set(err, EINVAL, "unexpected argument '%s'", argv[optind]);
	if (!cfg->name)
		return nk_error_set(err, EINVAL, "--name is required (the VM's name)");
	if (!cfg->n_zones)
		return nk_error_set(err, EINVAL,
				    "guest RAM is required: --memory size=... or "
				    "--memory-zone id=...,size=...");
	for (size_t i = 0; i < cfg->n_zones; i++)
		cfg->zones[i].spec.force = cfg->force;
	if (cfg->threads_per_core > 1 && cfg->vcpus % cfg->threads_per_core)
		return nk_error_set(err, EINVAL, "--cpus: count=%u is not a multiple of threads=%u",
				    cfg->vcpus, cfg->threads_per_core);
	if (cfg->n_numa && !have_zone)
		return nk_error_set(err, EINVAL, "--numa names zones: use --memory-zone");
	r = check_kernel(cfg, err);
	if (r < 0)
		return r;
	if (!cfg->fill.content.salt)
		cfg->fill.content.salt = name_salt(cfg->name);
	if (!cfg->workload.c.content.salt)
		cfg->workload.c.content.salt = name_salt(cfg->name);
	if (cfg->workload.mode == NKG_MODE_VERIFY) {
		if (!cfg->fill.set)
			return nk_error_set(
			    err, EINVAL,
			    "--workload mode=verify checks what --fill wrote: add --fill");
		/* It checks the fill's pages with the fill's content. */
		cfg->workload.c = cfg->fill;
		cfg->workload.passes = 1;
	}
	if (cfg->workload.passes == 0 && !cfg->hold && cfg->workload.c.set)
		return nk_error_set(
		    err, EINVAL,
		    "--workload passes=0 runs forever: add --hold, and stop it with "
		    "numaksm vm stop %s",
		    cfg->name);
	return 0;
}
