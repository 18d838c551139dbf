#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""numaksm-tuned.service as systemd would run it, without systemd as PID 1.

  tuned-unit.py verify BUILD_DIR
      Install the build into a fresh root and run `systemd-analyze verify`
      on the unit there: it must be clean (no unknown key, every command
      executable, every dependency known).

  tuned-unit.py run BUILD_DIR
      Install the build into a fresh root, take the unit's ExecStart= and
      Environment= lines and run that command with that environment, with
      NOTIFY_SOCKET on a datagram socket this test reads and JOURNAL_STREAM
      naming the daemon's stderr, as systemd sets them.  READY=1 must come
      (with a STATUS=), SIGHUP must give RELOADING=1 then READY=1, SIGTERM
      STOPPING=1 and exit 0; log lines carry a <priority> and no timestamp;
      KSM's knobs are as they were before.  Changes KSM on this host while
      it runs (and puts it back, on failure too).
"""
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KSM = "/sys/kernel/mm/ksm"
SKIP = 77


def install(build, root):
    env = dict(os.environ, DESTDIR=root)
    subprocess.run(["cmake", "--install", build], env=env, check=True, stdout=subprocess.DEVNULL)
    units = glob.glob(root + "/**/systemd/system/numaksm-tuned.service", recursive=True)
    if len(units) != 1:
        sys.exit(f"FAIL: {len(units)} numaksm-tuned.service installed under {root}")
    return units[0]


def service_lines(unit, key):
    """The values of KEY= in [Service], in order."""
    section, values = None, []
    with open(unit) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.split("=", 1)[0].strip() == key:
                values.append(line.split("=", 1)[1].strip())
    return values


def verify(build):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("no systemd-analyze")
        return SKIP
    with tempfile.TemporaryDirectory() as t:
        root = t + "/root"
        unit = install(build, root)
        # The manager under --root needs the units the service depends on
        # (sysinit.target ...) and ExecReload's /bin/kill there too.
        os.makedirs(root + "/usr/lib/systemd", exist_ok=True)
        shutil.copytree("/usr/lib/systemd/system", root + "/usr/lib/systemd/system",
                        symlinks=True, dirs_exist_ok=True)
        os.makedirs(root + "/bin", exist_ok=True)
        shutil.copy2(shutil.which("kill") or "/bin/kill", root + "/bin/kill")
        # Every unit installed: the tuner's and the exporter's.
        units = sorted(glob.glob(os.path.dirname(unit) + "/numaksm-*.service"))
        if [os.path.basename(u) for u in units] != ["numaksm-exporter.service",
                                                     "numaksm-tuned.service"]:
            print(f"FAIL: installed units {units}")
            return 1
        failed = 0
        for unit in units:
            for cmd in service_lines(unit, "ExecStart") + service_lines(unit, "ExecStopPost"):
                path = shlex.split(cmd)[0].lstrip("-@:+!")
                if not os.access(root + path, os.X_OK):
                    print(f"FAIL: {path} is not in the installed tree")
                    failed = 1
            # The man pages of Documentation= are checked in the package (unit/deb).
            r = subprocess.run([analyze, "verify", "--man=no", "--root=" + root, unit],
                               capture_output=True, text=True)
            out = (r.stdout + r.stderr).strip()
            print(f"systemd-analyze verify {os.path.basename(unit)}: exit {r.returncode}"
                  + (f"\n{out}" if out else ", clean"))
            failed |= r.returncode != 0 or bool(out)
        return failed


def knobs():
    """KSM's writable knobs and their values ([x] selections unwrapped)."""
    values = {}
    for path in sorted(glob.glob(KSM + "/*")):
        if not os.stat(path).st_mode & 0o200:
            continue
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        m = re.search(r"\[(\w+)\]", text)
        values[os.path.basename(path)] = m.group(1) if m else text
    return values


def put_back(saved):
    # advisor_mode first: switching it resets pages_to_scan.
    for name in sorted(saved, key=lambda k: k != "advisor_mode"):
        try:
            with open(f"{KSM}/{name}", "w") as f:
                f.write(saved[name])
        except OSError:
            pass


class Notify:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait(self, key, seconds):
        """The next message holding KEY=..., as a dict."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                return None
            fields = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
            self.messages.append(fields)
            print("notify: " + " | ".join(f"{k}={v}" for k, v in fields.items()))
            if key in fields:
                return fields


def run(build):
    if os.geteuid() != 0:
        print("needs root")
        return SKIP
    if not os.access(KSM + "/run", os.W_OK):
        print("no KSM")
        return SKIP
    if subprocess.run(["pgrep", "-x", "ksmtuned"], stdout=subprocess.DEVNULL).returncode == 0:
        print("ksmtuned runs: KSM is not ours")
        return SKIP
    failures = []

    def check(ok, what):
        print(("ok: " if ok else "FAIL: ") + what)
        if not ok:
            failures.append(what)
        return ok

    with tempfile.TemporaryDirectory() as t:
        root = t + "/root"
        unit = install(build, root)
        start = service_lines(unit, "ExecStart")
        if not check(len(start) == 1, f"one ExecStart= line ({start})"):
            return 1
        argv = shlex.split(start[0])
        argv[0] = argv[0].lstrip("-@:+!")
        numaksm = root + argv[0]
        show = subprocess.run([numaksm, "ksm", "show", "--json"], capture_output=True, text=True)
        if '"running": true' in show.stdout:
            print("a numaksm tuner or KSM benchmark runs: KSM is not ours now")
            return SKIP
        env = {k: v for k, v in os.environ.items()
               if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
        for line in service_lines(unit, "Environment"):
            for assignment in shlex.split(line):
                k, v = assignment.split("=", 1)
                env[k] = v
        print("ExecStart: " + " ".join(argv))
        print("Environment: " + " ".join(f"{k}={env[k]}" for k in ("NUMAKSM_RUNTIME_DIR",)
                                          if k in env))
        notify = Notify(t + "/notify")
        env["NOTIFY_SOCKET"] = t + "/notify"
        log = open(t + "/log", "w+")
        st = os.fstat(log.fileno())
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        saved = knobs()
        argv[0] = numaksm  # the installed binary, under the fresh root
        tuner = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=log)
        try:
            ready = notify.wait("READY", 60)
            if check(ready is not None and ready["READY"] == "1", "READY=1 after the first round"):
                check("run=" in ready.get("STATUS", ""),
                      f"a one-line STATUS= with READY=1: {ready.get('STATUS')}")
                tuner.send_signal(signal.SIGHUP)
                reloading = notify.wait("RELOADING", 30)
                check(reloading is not None and reloading["RELOADING"] == "1"
                      and "MONOTONIC_USEC" in reloading, "RELOADING=1 (with MONOTONIC_USEC) on SIGHUP")
                again = notify.wait("READY", 30)
                check(again is not None and reloading is not None, "READY=1 after the reload")
                status = notify.wait("STATUS", 15)
                check(status is not None and "run=" in status["STATUS"],
                      "the rounds go on after the reload, with a STATUS=")
            check(tuner.poll() is None, "the tuner runs until SIGTERM")
            tuner.send_signal(signal.SIGTERM)
            check(notify.wait("STOPPING", 30) is not None, "STOPPING=1 on SIGTERM")
            try:
                rc = tuner.wait(60)
            except subprocess.TimeoutExpired:
                rc = None
            check(rc == 0, f"exit status 0 after SIGTERM (got {rc})")
        finally:
            if tuner.poll() is None:
                tuner.kill()
                tuner.wait()
                subprocess.run([numaksm, "ksm", "restore"], env=env)
            after = knobs()
            check(after == saved, "KSM's knobs are as they were"
                  + ("" if after == saved else
                     f": {[(k, saved.get(k), after.get(k)) for k in saved if saved.get(k) != after.get(k)]}"))
            if after != saved:
                put_back(saved)
        log.seek(0)
        lines = log.read().splitlines()
        print("log:\n  " + "\n  ".join(lines))
        check(lines and all(re.match(r"<[3467]>[^<]", l) for l in lines),
              "under journald every log line starts with a <priority>")
        check(not any(re.search(r"\d\d:\d\d:\d\d", l) for l in lines),
              "under journald no log line has a timestamp of its own")
        if not os.path.exists("/etc/numaksm/numaksm.conf"):
            check(any(l.startswith("<6>no /etc/numaksm/numaksm.conf: running with the defaults")
                      for l in lines), "without a policy file it runs with the defaults")
        check(any("restoring the KSM settings" in l for l in lines), "it restored KSM on SIGTERM")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("verify", "run"):
        sys.exit("usage: tuned-unit.py verify|run BUILD_DIR")
    sys.exit(verify(sys.argv[2]) if sys.argv[1] == "verify" else run(sys.argv[2]))
