/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * numaksm libvirt: put a vCPU/NUMA plan into a libvirt domain through
 * libvirt's C API.
 *
 *   numaksm libvirt apply DOMAIN [placement options] [--memory SIZE]
 *                         [--hugepages SIZE|none] [--live] [--dry-run] [--connect URI]
 *
 * The domain's persistent XML is read (inactive, secure: passwords kept),
 * the plan's elements merged into it (libvirt-xml.c) and the result
 * defined again: libvirt validates it and either takes the whole or leaves
 * the domain as it was.  --live also pins the running domain, all or
 * nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <numaksm/cleanup.h>
#include <numaksm/hostinfo.h>
#include <numaksm/vcpu.h>
#include <numaksm/vm.h>

#include "libvirt.h"
#include "pin.h"
#include "tool.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: numaksm libvirt apply DOMAIN [OPTIONS]\n\n"
		"Plan vCPU pinning and NUMA placement for a libvirt domain and merge it into\n"
		"the domain's definition (its other settings are kept): <vcpu>, <cputune>\n"
		"vcpupin/emulatorpin, <numatune>, <cpu><numa> cells and, with --hugepages,\n"
		"<memoryBacking><hugepages>.  It takes effect when the domain next starts;\n"
		"--live also pins the running domain.\n\n"
		"Options:\n"
		"  the placement options of 'numaksm pin plan' (--vcpus defaults to the\n"
		"  domain's <vcpu>, --memory to its <memory>)\n"
		"  --hugepages SIZE|none     back the guest's RAM with hugepages (2M, 1G); the\n"
		"                            pages must be free on the planned host nodes\n"
		"  --live                    also pin the running domain's vCPUs and emulator\n"
		"                            and move its memory's node set\n"
		"  --dry-run                 print the domain XML that would be defined\n"
		"  --connect URI             libvirt's URI (default: LIBVIRT_DEFAULT_URI, else\n"
		"                            qemu:///system)\n"
		"  --root DIR                a captured host tree: its topology and hugepages\n\n"
		"The plan keeps off the CPUs other libvirt domains pin their vCPUs or emulator\n"
		"to, and the VMs numaksm pinned ($NUMAKSM_RUNTIME_DIR/pins.json).\n\n"
		"Exit status: 0 success, 1 refused or failed (nothing changed), 2 usage error.\n");
}

/* libvirt reports through the connection's last error; printing it to
 * stderr by default as well would say everything twice. */
static void quiet(void *data, virErrorPtr error)
{
}

static const char *lv_message(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown error";
}

struct lv_session {
	virConnectPtr conn;
	virDomainPtr dom;
	char *name;
	char *old_xml;
	xmlDocPtr doc;
	nk_host *host;
	nk_topo *topo;
	nk_pin_state *state;
	nk_pin_plan *plan;
	nk_bitmap *taken; /* CPUs other domains pin to */
	char *taken_by;	  /* "a (1), b (2-3)" */
	struct tool_libvirt_layout layout;
	bool active;
	bool numa_refused; /* libvirt would not move the running domain's memory */
};

static void session_release(struct lv_session *s)
{
	tool_libvirt_layout_done(&s->layout);
	free(s->taken_by);
	nk_bitmap_free(s->taken);
	nk_pin_plan_free(s->plan);
	nk_pin_state_free(s->state);
	nk_topo_free(s->topo);
	nk_host_free(s->host);
	if (s->doc)
		xmlFreeDoc(s->doc);
	free(s->old_xml);
	free(s->name);
	if (s->dom)
		virDomainFree(s->dom);
	if (s->conn)
		virConnectClose(s->conn);
}

static int lv_open(const struct pin_args *a, struct lv_session *s, nk_error **err)
{
	virSetErrorFunc(NULL, quiet);
	s->conn = virConnectOpen(a->connect);
	if (!s->conn) {
		nk_error_set(err, ECONNREFUSED, "cannot connect to libvirt%s%s: %s",
			     a->connect ? " at " : "", a->connect ? a->connect : "", lv_message());
		return nk_error_hint(err, "is libvirtd running? start it (systemctl start "
					  "libvirtd, or virtlogd -d && libvirtd -d)");
	}
	s->dom = virDomainLookupByName(s->conn, a->target);
	if (!s->dom)
		s->dom = virDomainLookupByUUIDString(s->conn, a->target);
	if (!s->dom) {
		_cleanup_free_ char *uri = virConnectGetURI(s->conn);
		nk_error_set(err, ENOENT, "no libvirt domain '%s' at %s", a->target,
			     uri ? uri : "libvirt");
		return nk_error_hint(err, "'virsh list --all' lists the defined domains");
	}
	s->name = strdup(virDomainGetName(s->dom));
	if (!s->name)
		return nk_error_set(err, ENOMEM, "out of memory");
	s->active = virDomainIsActive(s->dom) == 1;
	if (virDomainIsPersistent(s->dom) != 1)
		return nk_error_set(err, EINVAL,
				    "domain '%s' is transient: it has no definition to change",
				    s->name);
	/* SECURE: the definition keeps its passwords when written back. */
	s->old_xml = virDomainGetXMLDesc(s->dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE);
	if (!s->old_xml)
		return nk_error_set(err, EIO, "cannot read the definition of domain '%s': %s",
				    s->name, lv_message());
	/* NOBLANKS: the merged elements indented like the rest when written. */
	s->doc = xmlReadMemory(s->old_xml, (int)strlen(s->old_xml), "domain.xml", NULL,
			       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				   XML_PARSE_NOBLANKS);
	if (!s->doc)
		return nk_error_set(err, EIO, "cannot parse the XML libvirt gave for domain '%s'",
				    s->name);
	return 0;
}

static xmlDocPtr parse_xml(const char *xml)
{
	return xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

/* The CPUs of every <vcpupin> and <emulatorpin> of XML `xml`, into s->taken. */
static int add_pins(struct lv_session *s, const char *name, const char *xml, nk_error **err)
{
	xmlDocPtr doc = parse_xml(xml);
	_cleanup_bitmap_ nk_bitmap *mine = nk_bitmap_new();
	nk_bitmap **vcpus = NULL, *emulator = NULL;
	size_t n = 0;
	int r = 0;

	if (!mine || (doc && tool_libvirt_pins(doc, &vcpus, &n, &emulator) < 0))
		r = nk_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; r >= 0 && i <= n; i++) {
		const nk_bitmap *set = i < n ? vcpus[i] : emulator;
		if (!set)
			continue;
		nk_bitmap_foreach (cpu, set)
			/* Only CPUs of this topology can be planned on anyway. */
			if (nk_bitmap_test(nk_topo_all_cpus(s->topo), (unsigned)cpu) &&
			    nk_bitmap_set(mine, (unsigned)cpu) < 0)
				r = nk_error_set(err, ENOMEM, "out of memory");
	}
	tool_libvirt_pins_free(vcpus, n, emulator);
	if (doc)
		xmlFreeDoc(doc);
	if (r < 0 || !nk_bitmap_weight(mine))
		return r;
	nk_bitmap_foreach (cpu, mine)
		if (nk_bitmap_set(s->taken, (unsigned)cpu) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	_cleanup_free_ char *list = tool_list_text(mine);
	char *by = NULL;
	if (asprintf(&by, "%s%s'%s' (%s)", s->taken_by ? s->taken_by : "", s->taken_by ? ", " : "",
		     name, list) < 0)
		return nk_error_set(err, ENOMEM, "out of memory");
	free(s->taken_by);
	s->taken_by = by;
	return 0;
}

/* What the other domains, defined or running, pin to. */
static int read_taken(struct lv_session *s, nk_error **err)
{
	virDomainPtr *doms = NULL;
	unsigned char uuid[VIR_UUID_BUFLEN], other[VIR_UUID_BUFLEN];
	int n = virConnectListAllDomains(s->conn, &doms, 0), r = 0;

	s->taken = nk_bitmap_new();
	if (!s->taken)
		return nk_error_set(err, ENOMEM, "out of memory");
	if (n < 0)
		return nk_error_set(err, EIO, "cannot list libvirt's domains: %s", lv_message());
	virDomainGetUUID(s->dom, uuid);
	for (int i = 0; i < n; i++) {
		if (r >= 0 && virDomainGetUUID(doms[i], other) == 0 &&
		    memcmp(uuid, other, sizeof(uuid)) != 0) {
			/* The definition for a defined domain, what runs for a transient one. */
			char *xml = virDomainGetXMLDesc(doms[i], VIR_DOMAIN_XML_INACTIVE);
			if (xml)
				r = add_pins(s, virDomainGetName(doms[i]), xml, err);
			free(xml);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	return r;
}

/* The guest's RAM on each host node must be there in free hugepages
 * (in hugepages at all, when the domain runs and holds its own). */
static int check_hugepages(struct lv_session *s, nk_error **err)
{
	const struct tool_libvirt_layout *l = &s->layout;
	struct nk_hostinfo *info = NULL;
	int r = nk_hostinfo_read(s->host, &info, err);
	char size[32];

	if (r < 0)
		return r;
	nk_format_bytes(size, sizeof(size), l->page_kib * 1024);
	nk_bitmap_foreach (node, l->memory_nodes) {
		uint64_t need = 0, have = 0;
		const struct nk_numa_node *n = nk_hostinfo_node(info, node);
		for (size_t c = 0; c < l->n_cells; c++)
			if (l->cells[c].memory_node == node)
				need += l->cells[c].memory_kib / l->page_kib;
		for (size_t p = 0; n && p < n->n_hugepages; p++)
			if (n->hugepages[p].size_kb == l->page_kib)
				have = s->active ? n->hugepages[p].total : n->hugepages[p].free;
		if (have >= need)
			continue;
		nk_error_set(err, ENOSPC,
			     "hugepages missing: domain '%s' needs %" PRIu64 " pages of %s on "
			     "host node %d, which has %" PRIu64 " %s",
			     s->name, need, size, node, have, s->active ? "in all" : "free");
		nk_error_hint(
		    err,
		    "reserve them: numaksm hugepages reserve --node %d --size %s --add %" PRIu64,
		    node, size, need - have);
		nk_hostinfo_free(info);
		return -ENOSPC;
	}
	nk_hostinfo_free(info);
	return 0;
}

/* The QEMU process of the running domain, found by the UUID libvirt gives
 * it (-uuid); 0 when it does not run or cannot be told. */
static int domain_pid(struct lv_session *s)
{
	char uuid[VIR_UUID_STRING_BUFLEN];
	struct nk_vm_ref *vms = NULL;
	int n, pid = 0;

	if (!s->active || virDomainGetUUIDString(s->dom, uuid) < 0)
		return 0;
	n = nk_vm_find_all(s->host, &vms, NULL);
	for (int i = 0; i < n; i++)
		if (vms[i].uuid && strcasecmp(vms[i].uuid, uuid) == 0)
			pid = vms[i].pid;
	if (n > 0)
		nk_vm_refs_free(vms, (size_t)n);
	return pid;
}

static int lv_plan(struct pin_args *a, struct lv_session *s, nk_error **err)
{
	xmlNodePtr root = xmlDocGetRootElement(s->doc);
	_cleanup_bitmap_ nk_bitmap *avoid = NULL;
	uint64_t memory_kib = a->memory_kib ? a->memory_kib : tool_libvirt_memory_kib(s->doc);
	int r;

	if (!a->vcpus_set) {
		for (xmlNodePtr n = root ? root->children : NULL; n; n = n->next)
			if (n->type == XML_ELEMENT_NODE && !xmlStrcmp(n->name, BAD_CAST "vcpu")) {
				_cleanup_free_ char *text = (char *)xmlNodeGetContent(n);
				long long v;
				if (text && nk_parse_int(text, 1, 4096, &v, NULL) == 0)
					a->req.vcpus = (unsigned)v;
			}
		if (!a->req.vcpus)
			return tool_usage_error(
			    err, "domain '%s' has no <vcpu> count: give --vcpus N", s->name);
	}
	if (!memory_kib)
		return tool_usage_error(err, "domain '%s' has no <memory>: give --memory SIZE",
					s->name);
	r = tool_pin_build_guest_nodes(a, err);
	if (r >= 0) {
		r = nk_host_open(a->root, &s->host, err);
		if (r < 0)
			tool_mark_usage();
	}
	if (r >= 0)
		r = tool_pin_load_topology(a, s->host, &s->topo, err);
	if (r >= 0 && !a->topology && !a->synthetic && nk_host_is_live(s->host)) {
		r = nk_pin_state_open(s->host, NULL, 0, &s->state, err);
		/* Re-planning a running domain: its own CPUs are free for it. */
		if (r >= 0 && s->active)
			nk_pin_state_remove(s->state, domain_pid(s));
	}
	if (r >= 0)
		r = read_taken(s, err);
	if (r < 0)
		return r;
	/* Other domains' CPUs are as good as housekeeping: never planned on. */
	avoid = a->housekeeping ? nk_bitmap_dup(a->housekeeping) : nk_bitmap_new();
	if (!avoid)
		return nk_error_set(err, ENOMEM, "out of memory");
	nk_bitmap_foreach (cpu, s->taken)
		if (nk_bitmap_set(avoid, (unsigned)cpu) < 0)
			return nk_error_set(err, ENOMEM, "out of memory");
	a->req.housekeeping = avoid;
	r = nk_pin_plan_compute(s->topo, &a->req, s->state, &s->plan, err);
	a->req.housekeeping = a->housekeeping;
	if (r < 0) {
		if (s->taken_by)
			nk_error_hint(err, "CPUs taken by other libvirt domains: %s", s->taken_by);
		return r;
	}
	r = tool_libvirt_layout(s->plan, memory_kib, a->page_kib, &s->layout, err);
	/* Hugepages of the host's own nodes only: a synthetic or XML topology's
	 * nodes are not this host's. */
	if (r >= 0 && a->page_kib && !a->topology && !a->synthetic)
		r = check_hugepages(s, err);
	return r;
}

/* Whether the running domain's memory is on `nodes` already: libvirt
 * changes the node set live only in restrictive mode, so a plan that keeps
 * it is no change to ask for. */
static bool same_live_nodes(struct lv_session *s, const char *nodes)
{
	virTypedParameterPtr params = NULL;
	int n = 0;
	const char *now = NULL;
	bool same = false;

	if (virDomainGetNumaParameters(s->dom, NULL, &n, VIR_DOMAIN_AFFECT_LIVE) < 0 || n <= 0)
		return false;
	params = calloc((size_t)n, sizeof(*params));
	if (params && virDomainGetNumaParameters(s->dom, params, &n, VIR_DOMAIN_AFFECT_LIVE) == 0 &&
	    virTypedParamsGetString(params, n, VIR_DOMAIN_NUMA_NODESET, &now) == 1 && now) {
		_cleanup_bitmap_ nk_bitmap *a = NULL, *b = NULL;
		same = nk_parse_list(now, "node list", &a, NULL) == 0 &&
		       nk_parse_list(nodes, "node list", &b, NULL) == 0 && nk_bitmap_equal(a, b);
	}
	if (params)
		virTypedParamsFree(params, n);
	return same;
}

/* Pin the running domain as planned; on a failure put back what was. */
static int lv_live(struct lv_session *s, nk_error **err)
{
	const nk_pin_plan *plan = s->plan;
	unsigned n = nk_pin_plan_vcpu_count(plan);
	int host_cpus = virNodeGetCPUMap(s->conn, NULL, NULL, 0);
	if (host_cpus <= 0)
		return nk_error_set(err, EIO, "cannot read the host's CPUs from libvirt: %s",
				    lv_message());
	int maplen = VIR_CPU_MAPLEN(host_cpus), r = 0;
	unsigned char *old = calloc((size_t)n + 1, (size_t)maplen);
	unsigned char *map = calloc(1, (size_t)maplen);
	_cleanup_free_ char *nodes = tool_list_text(s->layout.memory_nodes);
	unsigned done = 0;
	bool emulator_done = false;

	if (!old || !map) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (virDomainGetVcpuPinInfo(s->dom, (int)n, old, maplen, VIR_DOMAIN_AFFECT_LIVE) < 0 ||
	    virDomainGetEmulatorPinInfo(s->dom, old + (size_t)n * maplen, maplen,
					VIR_DOMAIN_AFFECT_LIVE) < 0) {
		r = nk_error_set(err, EIO, "cannot read the pinning of running domain '%s': %s",
				 s->name, lv_message());
		goto out;
	}
	for (; done <= n; done++) {
		const nk_bitmap *cpus = nk_pin_plan_emulator_cpus(plan);
		struct nk_pin_vcpu v;
		if (done < n) {
			nk_pin_plan_vcpu(plan, done, &v);
			cpus = v.cpus;
		}
		memset(map, 0, (size_t)maplen);
		nk_bitmap_foreach (cpu, cpus) {
			if (cpu >= host_cpus) {
				r = nk_error_set(
				    err, EINVAL,
				    "CPU %d of the plan is not one of libvirt's %d host "
				    "CPUs",
				    cpu, host_cpus);
				goto undo;
			}
			VIR_USE_CPU(map, cpu);
		}
		int rc = done < n
			     ? virDomainPinVcpu(s->dom, done, map, maplen)
			     : virDomainPinEmulator(s->dom, map, maplen, VIR_DOMAIN_AFFECT_LIVE);
		if (rc < 0) {
			r = nk_error_set(err, EIO, "libvirt refused to pin %s of domain '%s': %s",
					 done < n ? "a vCPU" : "the emulator", s->name,
					 lv_message());
			goto undo;
		}
	}
	emulator_done = true;
	if (same_live_nodes(s, nodes))
		goto out;
	virTypedParameter param = {.field = VIR_DOMAIN_NUMA_NODESET,
				   .type = VIR_TYPED_PARAM_STRING};
	param.value.s = nodes;
	if (virDomainSetNumaParameters(s->dom, &param, 1, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		r = nk_error_set(
		    err, EIO, "libvirt refused to move the memory of domain '%s' to nodes %s: %s",
		    s->name, nodes, lv_message());
		s->numa_refused = true;
		goto undo;
	}
	goto out;
undo:
	for (unsigned i = 0; i < done && i < n; i++)
		virDomainPinVcpu(s->dom, i, old + (size_t)i * maplen, maplen);
	if (emulator_done)
		virDomainPinEmulator(s->dom, old + (size_t)n * maplen, maplen,
				     VIR_DOMAIN_AFFECT_LIVE);
out:
	free(map);
	free(old);
	return r;
}

static int libvirt_apply(struct pin_args *a, nk_error **err)
{
	struct lv_session s = {0};
	xmlChar *xml = NULL;
	int len = 0, r;

	if (!a->target) {
		r = tool_usage_error(err, "missing DOMAIN: the name or UUID of a libvirt domain");
		goto out;
	}
	if (a->live && (a->topology || a->synthetic || a->root)) {
		r = tool_usage_error(err,
				     "--live pins the running domain on this host: it "
				     "plans on the host's own topology, not --%s",
				     a->topology    ? "topology"
				     : a->synthetic ? "synthetic"
						    : "root");
		goto out;
	}
	r = lv_open(a, &s, err);
	if (r >= 0 && a->live && !s.active)
		r = nk_error_set(err, EINVAL, "--live: domain '%s' is not running", s.name);
	if (r >= 0)
		r = lv_plan(a, &s, err);
	if (r >= 0 && a->live) {
		int running = virDomainGetVcpusFlags(s.dom, VIR_DOMAIN_AFFECT_LIVE);
		if (running != (int)nk_pin_plan_vcpu_count(s.plan)) {
			nk_error_set(err, EINVAL,
				     "--live: domain '%s' runs %d vCPUs, the plan has %u", s.name,
				     running, nk_pin_plan_vcpu_count(s.plan));
			r = nk_error_hint(err, "leave out --live: the plan takes effect when "
					       "the domain next starts");
		}
	}
	if (r >= 0)
		r = tool_libvirt_merge(s.doc, &s.layout, err);
	if (r < 0)
		goto out;
	xmlDocDumpFormatMemory(s.doc, &xml, &len, 1);
	if (!xml) {
		r = nk_error_set(err, ENOMEM, "out of memory");
		goto out;
	}
	if (a->dry_run) {
		fputs((const char *)xml, stdout);
		r = EXIT_OK;
		goto out;
	}
	virDomainPtr defined = virDomainDefineXML(s.conn, (const char *)xml);
	if (!defined) {
		nk_error_set(err, EINVAL, "libvirt refused the plan for domain '%s': %s", s.name,
			     lv_message());
		r = nk_error_hint(err, "the domain is unchanged");
		goto out;
	}
	virDomainFree(defined);
	if (a->live && (r = lv_live(&s, err)) < 0) {
		/* The definition back as it was: nothing half-applied. */
		virDomainPtr back = virDomainDefineXML(s.conn, s.old_xml);
		if (back)
			virDomainFree(back);
		else
			tool_log_error("libvirt apply", lv_message());
		nk_error_hint(err, "%s%s",
			      back ? "the domain is unchanged"
				   : "the domain's definition could not be put back",
			      s.numa_refused ? "; libvirt moves a running domain's memory in "
					       "<numatune> mode 'restrictive' only: leave out "
					       "--live and restart the domain"
					     : "");
		goto out;
	}
	printf("Domain '%s': defined with this plan%s\n", s.name,
	       a->live	  ? ", and applied to the running domain"
	       : s.active ? " (running: it takes effect at the next start, or with --live)"
			  : " (it takes effect when the domain starts)");
	r = tool_libvirt_print_xml(&s.layout, err);
	if (r >= 0)
		r = EXIT_OK;
out:
	xmlFree(xml);
	session_release(&s);
	return r;
}

int cmd_libvirt(int argc, char **argv, nk_error **err)
{
	struct pin_args a = {0};
	int r;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		if (argc < 2)
			tool_mark_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "apply") != 0) {
		tool_usage_error(err, "unknown libvirt command '%s': expected apply", argv[1]);
		return nk_error_hint(err, "see 'numaksm libvirt --help'");
	}
	r = tool_pin_parse(argc - 1, argv + 1, "libvirt apply", PIN_FOR_LIBVIRT, &a, err);
	if (r > 0) {
		usage(stdout);
		r = EXIT_OK;
	} else if (r == 0) {
		r = libvirt_apply(&a, err);
	}
	tool_pin_args_release(&a);
	return r;
}

/* ---- drift, for status ----------------------------------------------- */

static virConnectPtr status_conn;
static bool status_conn_tried;

void tool_libvirt_close(void)
{
	if (status_conn)
		virConnectClose(status_conn);
	status_conn = NULL;
	status_conn_tried = false;
}

static int drift_add(struct tool_libvirt_drift **d, int *n, const struct nk_vm_thread *t,
		     const nk_bitmap *defined)
{
	struct tool_libvirt_drift *more = realloc(*d, ((size_t)*n + 1) * sizeof(**d));
	if (!more)
		return -ENOMEM;
	*d = more;
	more[*n] = (struct tool_libvirt_drift){
	    .vcpu = t->vcpu,
	    .tid = t->tid,
	    .affinity_cpus = tool_list_text(t->affinity),
	    .defined_cpus = tool_list_text(defined),
	};
	(*n)++;
	return 0;
}

int tool_libvirt_drift(const struct nk_vm_info *vm, struct tool_libvirt_drift **ret)
{
	struct tool_libvirt_drift *d = NULL;
	nk_bitmap **vcpus = NULL, *emulator = NULL;
	size_t n_pins = 0;
	int n = 0, r = 0;

	if (vm->ref.kind != NK_VM_LIBVIRT || !vm->ref.uuid || !vm->has_threads)
		return -ENOENT;
	if (!status_conn_tried) {
		status_conn_tried = true;
		virSetErrorFunc(NULL, quiet);
		status_conn = virConnectOpenReadOnly(NULL);
	}
	if (!status_conn)
		return -ENOENT;
	virDomainPtr dom = virDomainLookupByUUIDString(status_conn, vm->ref.uuid);
	if (!dom)
		return -ENOENT;
	/* The definition: what the domain gets when it starts again. */
	char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	virDomainFree(dom);
	xmlDocPtr doc = xml ? parse_xml(xml) : NULL;
	free(xml);
	if (!doc)
		return -ENOENT;
	if (tool_libvirt_pins(doc, &vcpus, &n_pins, &emulator) < 0)
		r = -ENOMEM;
	xmlFreeDoc(doc);
	for (size_t i = 0; r >= 0 && i < vm->threads.count; i++) {
		const struct nk_vm_thread *t = &vm->threads.threads[i];
		/* Emulator: the main thread; I/O threads have pins of their own. */
		const nk_bitmap *defined = t->vcpu >= 0 && (size_t)t->vcpu < n_pins ? vcpus[t->vcpu]
					   : t->tid == vm->ref.pid		    ? emulator
										    : NULL;
		if (defined && t->affinity && !nk_bitmap_equal(defined, t->affinity))
			r = drift_add(&d, &n, t, defined);
	}
	tool_libvirt_pins_free(vcpus, n_pins, emulator);
	if (r < 0) {
		tool_libvirt_drift_free(d, n);
		return r;
	}
	*ret = d;
	return n;
}

void tool_libvirt_drift_free(struct tool_libvirt_drift *d, int n)
{
	for (int i = 0; i < n; i++) {
		free(d[i].affinity_cpus);
		free(d[i].defined_cpus);
	}
	free(d);
}
