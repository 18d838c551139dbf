#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The exporter as a fleet runs it: Debian's Prometheus scrapes two numaksm
exporters (this host, with a QEMU TCG guest whose pages KSM merged, and a
captured 4-node host tree with --root, each its own instance) and evaluates
dist/prometheus's rules.  The values Prometheus stored must be what
`numaksm status --json` reports, the exposition must pass
`promtool check metrics`, and a query must sum KSM's saving over the fleet.
Refusals (address in use, bad addresses) and hostile clients (one that sends
nothing, many at once, other paths and methods) are checked against the
running exporter, which must go on serving.  Everything started here is
stopped here, and KSM's knobs are put back by their owner.

Usage: exporter-prometheus.py NUMAKSM TEST-KSM-OWNER SOURCE-DIR
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException as http_client_errors

numaksm, owner_bin, source = sys.argv[1:4]
KSM = "/sys/kernel/mm/ksm"
NAME = f"numaksm-exp-{os.getpid()}"
failures = []


def skip(why):
    print(f"skipped: {why}")
    sys.exit(77)


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        failures.append(what)
    return cond


if os.geteuid() != 0:
    skip("needs root")
for tool in ("qemu-system-x86_64", "prometheus", "promtool", "cpio", "busybox", "openssl"):
    if not shutil.which(tool):
        skip(f"needs {tool}")
kernels = sorted(f for f in os.listdir("/boot") if f.startswith("vmlinuz-"))
if not kernels:
    skip("needs a kernel in /boot")
if not os.access(f"{KSM}/run", os.W_OK) or not os.path.exists("/proc/self/ksm_stat"):
    skip("needs KSM and /proc/PID/ksm_stat")

tmp = tempfile.mkdtemp(prefix="numaksm-exporter-")
env = dict(os.environ, NUMAKSM_RUNTIME_DIR=f"{tmp}/run")
procs = []  # started here, stopped at the end (last first)


def start(argv, **kw):
    p = subprocess.Popen(argv, env=env, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, timeout=10, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def wait_for(what, fn, seconds=60):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"FAIL: {what} (waited {seconds} s)")


def run(argv, **kw):
    return subprocess.run(argv, env=env, capture_output=True, text=True, **kw)


try:
    # ---- KSM is ours: merge the guest's pages, then hold them still ----------
    owner = start([owner_bin, "run=1", "pages_to_scan=5000", "sleep_millisecs=0"]
                  + (["advisor_mode=none"] if os.path.exists(f"{KSM}/advisor_mode") else []),
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = owner.stdout.readline()
    if "ready" not in line:
        stop_all()
        skip(f"KSM is not ours: {line.strip()}")

    # ---- a QEMU TCG guest: busybox as init, idling ---------------------------
    initrd = f"{tmp}/initrd"
    os.makedirs(f"{initrd}/bin")
    shutil.copy(shutil.which("busybox"), f"{initrd}/bin/busybox")
    with open(f"{initrd}/init", "w") as f:
        f.write("#!/bin/busybox sh\necho numaksm-guest-up\n"
                "while :; do /bin/busybox sleep 3600; done\n")
    os.chmod(f"{initrd}/init", 0o755)
    files = subprocess.run("find .", shell=True, cwd=initrd, capture_output=True).stdout
    with open(f"{tmp}/initrd.cpio", "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc"], cwd=initrd, input=files, stdout=f,
                       stderr=subprocess.DEVNULL, check=True)
    qemu = start(["qemu-system-x86_64", "-accel", "tcg", "-m", "128M",
                  "-name", f"guest={NAME},debug-threads=on",
                  "-kernel", f"/boot/{kernels[-1]}", "-initrd", f"{tmp}/initrd.cpio",
                  "-append", "console=ttyS0 quiet", "-display", "none", "-nodefaults",
                  "-monitor", "none", "-serial", f"file:{tmp}/console.log"])
    wait_for("the guest boots", lambda: "numaksm-guest-up" in open(f"{tmp}/console.log").read(),
             120)

    def ksm_stat():
        return dict(l.replace(":", "").split()[:2] for l in open(f"/proc/{qemu.pid}/ksm_stat"))
    wait_for("KSM merges the guest's pages", lambda: int(ksm_stat()["ksm_merging_pages"]) > 100)
    with open(f"{KSM}/run", "w") as f:
        f.write("0")  # merged pages stay merged, and hold still
    print(f"QEMU {qemu.pid}: {ksm_stat()['ksm_merging_pages']} pages merged")

    # ---- two exporters: this host, and a captured 4-node host ----------------
    port, port2, prom_port = free_port(), free_port(), free_port()
    live = start([numaksm, "exporter", "--listen", f"127.0.0.1:{port}"],
                 stderr=open(f"{tmp}/exporter.log", "w"))
    # The captured host's exporter serves TLS to one user, as a site would.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", f"{tmp}/server.key", "-out", f"{tmp}/server.crt",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    with open(f"{tmp}/web.yml", "w") as f:
        f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                "basic_auth_users:\n  prometheus: "
                + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)) + "\n")
    captured = start([numaksm, "exporter", "--listen", f"127.0.0.1:{port2}",
                      "--web.config.file", f"{tmp}/web.yml",
                      "--root", f"{source}/tests/fixtures/lab-4node"])
    base = f"http://127.0.0.1:{port}"
    wait_for("the exporter answers", lambda: http(f"{base}/")[0] == 200)
    status, ctype, text = http(f"{base}/metrics")
    check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
          f"GET /metrics: {status} {ctype}")
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                          text=True)
    check(lint.returncode == 0, f"promtool check metrics: {lint.stdout}{lint.stderr}".strip())
    check(f'numaksm_vm_info{{vm="{NAME}",kind="qemu",pid="{qemu.pid}"' in text,
          "the guest is in the metrics, named, of kind qemu")
    check('numaksm_ksm_owner_info{program="test-ksm-owner"' in text,
          "the owner of KSM's knobs is in the metrics")
    import ssl
    tls = ssl.create_default_context(cafile=f"{tmp}/server.crt")

    def https(user=None, password=None):
        req = urllib.request.Request(f"https://127.0.0.1:{port2}/metrics")
        if user:
            import base64
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10, context=tls) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("WWW-Authenticate", "")
    wait_for("the captured host's exporter answers", lambda: https()[0] == 401)
    status, body = https()
    check(status == 401 and 'Basic realm="numaksm"' in body, "TLS, no credentials: 401")
    check(https("prometheus", "wrong")[0] == 401, "TLS, a wrong password: 401")
    check(https("nobody", "s3cret")[0] == 401, "TLS, an unknown user: 401")
    status, captured_text = https("prometheus", "s3cret")
    check(status == 200, "TLS, the user's password: 200")
    try:
        plain = http(f"http://127.0.0.1:{port2}/metrics", timeout=5)[0]
    except (OSError, http_client_errors) as e:
        plain = type(e).__name__
    check(plain != 200, f"plain HTTP to the TLS port is not served ({plain})")
    check(captured_text.count("numaksm_node_memory_total_bytes{") == 4,
          "the captured host's exporter shows its 4 nodes")

    # ---- Prometheus scrapes both and evaluates the rules ---------------------
    with open(f"{tmp}/prometheus.yml", "w") as f:
        f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {source}/dist/prometheus/numaksm-rules.yml
scrape_configs:
  - job_name: numaksm
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: numaksm-tls
    scheme: https
    tls_config:
      ca_file: {tmp}/server.crt
    basic_auth:
      username: prometheus
      password: s3cret
    static_configs:
      - targets: ['127.0.0.1:{port2}']
""")
    start(["prometheus", f"--config.file={tmp}/prometheus.yml",
           f"--storage.tsdb.path={tmp}/prometheus", f"--web.listen-address=127.0.0.1:{prom_port}",
           "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/prom.log", "w"))
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def query(expr):
        s, _, body = http(f"{api}/query?" + urllib.parse.urlencode({"query": expr}))
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise ValueError(doc)
        return doc["data"]["result"]

    def value(expr):
        r = query(expr)
        if len(r) != 1:
            raise ValueError(f"{expr}: {len(r)} series")
        return float(r[0]["value"][1])

    wait_for("Prometheus scrapes both exporters, one over TLS with a password",
             lambda: len([r for r in query('up{job=~"numaksm|numaksm-tls"}')
                          if r["value"][1] == "1"]) == 2, 90)
    wait_for("the rules are evaluated", lambda: query("numaksm:ksm_saved_bytes:sum"), 60)

    # What Prometheus stored is what status reports.  KSM stands still; the
    # guest idles, so its resident pages may move by a few.
    doc = json.loads(run([numaksm, "status", NAME, "--json"]).stdout)
    vm = doc["vms"][0]
    host_ksm = doc["host"]["ksm"]
    sel = f'vm="{NAME}",instance="127.0.0.1:{port}"'
    time.sleep(2.5)  # a scrape after the status
    k = vm["ksm"]
    for metric, want in (("numaksm_vm_ksm_merging_pages", k["merging_page_count"]),
                         ("numaksm_vm_ksm_rmap_items", k["rmap_item_count"]),
                         ("numaksm_vm_ksm_saved_bytes", k["saved_bytes"]),
                         ("numaksm_vm_guest_ram_bytes", vm["guest_ram"]["size_bytes"]),
                         ("numaksm_vm_mergeable_bytes", k["mergeable_bytes"])):
        got = value(f"{metric}{{{sel}}}")
        check(got == want, f"{metric} in Prometheus {got:.0f}, status --json {want}")
    for metric, want in (("numaksm_ksm_pages_sharing", host_ksm["counters"]["pages_sharing"]),
                         ("numaksm_ksm_saved_bytes", host_ksm["saved_bytes"])):
        got = value(f'{metric}{{instance="127.0.0.1:{port}"}}')
        check(got == want, f"{metric} in Prometheus {got:.0f}, status --json {want}")
    p = vm["placement"]
    slack = 2 * p["error_bytes"] + (4 << 20)
    for n in p["per_node"]:
        got = value(f'numaksm_vm_node_resident_bytes{{{sel},node="{n["node"]}"}}')
        check(abs(got - n["resident_bytes"]) <= slack,
              f"node {n['node']}: {got:.0f} bytes in Prometheus, {n['resident_bytes']} in "
              f"status --json (+/- {slack})")
    check(value(f"numaksm_vm_vcpu_threads{{{sel}}}") == vm["vcpu_count"] == 1,
          "one vCPU thread in Prometheus and status")

    # The fleet: two instances, one query.
    fleet = value("sum(numaksm_ksm_pages_sharing)")
    check(fleet == host_ksm["counters"]["pages_sharing"],
          f"sum(numaksm_ksm_pages_sharing) over the fleet: {fleet:.0f}")
    check(value("count(numaksm_node_memory_total_bytes)") == 4 + len(doc["host"]["numa_nodes"]),
          "count(numaksm_node_memory_total_bytes): the nodes of both hosts")
    check(value("numaksm:ksm_saved_bytes:sum") == host_ksm["saved_bytes"],
          "the recording rule numaksm:ksm_saved_bytes:sum is the fleet's saving")
    print(f"fleet: KSM saves {host_ksm['saved_bytes']} bytes; the guest "
          f"{k['saved_bytes']} bytes ({k['merging_page_count']} pages merged)")

    # ---- refusals ------------------------------------------------------------
    r = run([numaksm, "exporter", "--listen", f"127.0.0.1:{port}"], timeout=10)
    check(r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr and
          "another program listens" in r.stderr,
          f"a port in use is refused: {r.stderr.strip()}")
    for bad, msg in (("127.0.0.1", "expected ADDRESS:PORT"), ("127.0.0.1:0", "not a number from 1"),
                     ("127.0.0.1:http", "not a number from 1"), ("::1:9847", "in brackets"),
                     ("no.such.host.invalid:9847", "cannot resolve"),
                     ("192.0.2.1:9847", "not an address of this host")):
        r = run([numaksm, "exporter", "--listen", bad], timeout=30)
        check(r.returncode in (1, 2) and msg in r.stderr, f"--listen {bad}: {r.stderr.strip()}")
    r = run([numaksm, "exporter", "--textfile", f"{tmp}/no/such/dir/numaksm.prom"])
    check(r.returncode == 1 and "must exist" in r.stderr, f"textfile in no directory: "
          f"{r.stderr.strip()}")
    # A textfile is written whole, and is what the exporter serves.
    r = run([numaksm, "exporter", "--textfile", f"{tmp}/numaksm.prom"])
    written = open(f"{tmp}/numaksm.prom").read() if r.returncode == 0 else ""
    lint = subprocess.run(["promtool", "check", "metrics"], input=written, capture_output=True,
                          text=True)
    check(r.returncode == 0 and lint.returncode == 0 and f'vm="{NAME}"' in written and
          os.listdir(tmp).count("numaksm.prom") == 1 and
          not [f for f in os.listdir(tmp) if f.startswith("numaksm.prom.")],
          "--textfile writes one complete file, nothing beside it")

    # ---- hostile clients -------------------------------------------------------
    check(http(f"{base}/nothing")[0] == 404, "another path: 404")
    check(http(f"{base}/metrics", method="POST")[0] == 405, "POST: 405")
    idle = []
    for _ in range(20):  # connect and send nothing
        s = socket.create_connection(("127.0.0.1", port))
        idle.append(s)
    t0 = time.monotonic()
    status, _, body = http(f"{base}/metrics", timeout=30)
    check(status == 200 and "numaksm_vms" in body,
          f"served while 20 clients send nothing ({time.monotonic() - t0:.2f} s)")
    many = []
    for _ in range(300):  # more than --max-connections (64)
        try:
            many.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    for s in many:
        s.close()
    for s in idle:
        s.close()
    status, _, body = http(f"{base}/metrics", timeout=30)
    check(status == 200, "served after 300 connections at once")
    threads = len(os.listdir(f"/proc/{live.pid}/task"))
    check(threads <= 3, f"the exporter runs {threads} threads (one polls every connection)")
    # One that connects, sends half a request and waits is dropped.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(30)
    t0 = time.monotonic()
    try:
        dropped = s.recv(1) == b""
    except OSError:
        dropped = True
    took = time.monotonic() - t0
    s.close()
    check(dropped and took < 20, f"a client that stops mid-request is dropped after {took:.1f} s")
    check(live.poll() is None and http(f"{base}/metrics")[0] == 200, "the exporter goes on")
    live.send_signal(signal.SIGTERM)
    rc = live.wait(10)
    check(rc == 0, f"SIGTERM: exit {rc}")
finally:
    stop_all()
    shutil.rmtree(tmp, ignore_errors=True)

if failures:
    print(f"{len(failures)} checks failed")
    sys.exit(1)
print("exporter-prometheus: passed")
