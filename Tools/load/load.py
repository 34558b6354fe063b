#!/usr/bin/env python3
"""Load on a Strata team server from separate client processes.

Each client is a real `strata` replica in its own directory, with its own researcher and token.
For --seconds, every client loops: `strata add note …` (one change), then `strata sync` (pull,
then push) against the server, or against an nginx round-robin front when --servers > 1. Each
`strata` command is its own process, so the load comes from processes, not threads of one.
Then every client syncs twice more (no new notes), and the run checks:

  - errors: every `strata` command that exited non-zero, by its first line (goal 0);
  - changes lost: the notes every client recorded are all on the server (counted in the
    server's own storage: the SQLite project file or PostgreSQL's strata_changes), and every
    replica's version vector names each client's replica at the number of notes it recorded;
  - replicas identical: every replica's version vector and `strata export --format json` are
    the same as a fresh auditor replica's that pulled the whole project.

It prints one JSON object (the figures, the CPU seconds each party used) on stdout and a
summary on stderr. Everything is bounded: the run by --seconds, each command by --timeout.

  load.py --strata BIN --storage sqlite --clients 100 --seconds 60
  load.py --strata BIN --storage postgres --database-url postgres://… --servers 3 --clients 100
  load.py … --restart-postgres-at 20 --pg-dir DIR     (pg_ctl restart -m fast during the run)
"""
import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PROJECT = "load"
CLK = os.sysconf("SC_CLK_TCK")


def fail(msg):
    print(f"load: {msg}", file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, timeout, env=None, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        fail(f"{' '.join(cmd[:4])} … exited {p.returncode}: {p.stderr.strip()[:400]}")
    return p


def proc_cpu(pid, children=False):
    """CPU seconds of a live process (user + system), with its reaped children's if asked."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t / CLK


def children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def machine_busy():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


class Postgres:
    """The PostgreSQL cluster the servers share (its admin URL, and its data dir for restarts)."""

    def __init__(self, admin_url, pg_dir):
        self.admin_url = admin_url
        self.pg_dir = pg_dir

    def psql(self, sql, db=None):
        url = self.admin_url
        if db:
            parts = urllib.parse.urlsplit(url)
            url = urllib.parse.urlunsplit(parts._replace(path="/" + db))
        p = run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql], timeout=60)
        return p.stdout.strip()

    def fresh_database(self, name):
        self.psql(f'DROP DATABASE IF EXISTS "{name}"')
        self.psql(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def postmaster_pid(self):
        with open(os.path.join(self.pg_dir, "pg", "postmaster.pid")) as f:
            return int(f.readline())

    def cpu(self):
        """CPU seconds of the cluster: the postmaster, its exited children and its live ones."""
        try:
            pm = self.postmaster_pid()
        except OSError:
            return 0.0
        return proc_cpu(pm, children=True) + sum(proc_cpu(c) for c in children_of(pm))

    def restart(self):
        owner = os.stat(self.pg_dir).st_uid
        cmd = [os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin") + "/pg_ctl", "-D",
               os.path.join(self.pg_dir, "pg"), "-l", os.path.join(self.pg_dir, "pg.log"), "-w", "-t", "60",
               "restart", "-m", "fast"]
        if os.getuid() == 0 and owner != 0:
            import pwd
            cmd = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--"] + cmd
        # The new postmaster keeps the output it was given open: a file, never a pipe.
        with open(os.path.join(tempfile.gettempdir(), f"strata-load-restart-{os.getpid()}.log"), "w+") as out:
            p = subprocess.run(cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=90)
            out.seek(0)
            p.stdout, p.stderr = out.read(), ""
        return p


class Client:
    def __init__(self, i, root, strata, url, token, timeout):
        self.i = i
        self.name = f"client{i:03d}"
        self.store = os.path.join(root, self.name, "replica.strata")
        self.strata = strata
        self.url = url
        self.token = token
        self.timeout = timeout
        self.recorded = 0          # notes recorded (`strata add` exited 0)
        self.syncs = 0             # syncs that exited 0 during the run
        self.sync_ms = []          # wall time of each successful sync, process start included
        self.add_ms = []
        self.errors = []           # (phase, first line of stderr)
        self.notices = []          # "retrying in N s" lines of syncs that then succeeded
        self.pulled = 0
        self.pushed = 0

    def cmd(self, *args):
        return [self.strata, *args, "--store", self.store]

    def setup(self):
        os.makedirs(os.path.dirname(self.store), exist_ok=True)
        run(self.cmd("init", "--author", self.name), timeout=self.timeout)
        run(self.cmd("remote", "add", "origin", self.url, "--project", PROJECT, "--token", self.token),
            timeout=self.timeout)

    def add(self, k):
        t = time.monotonic()
        body = (f"Note {k} by {self.name}: the west wall of the theatre, photographed from the "
                f"north-east corner; cracks along the third course, no new debris since the last visit.")
        try:
            p = subprocess.run(self.cmd("add", "note", f"{self.name} note {k}", "--body", body, "--tag", "load"),
                               capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.errors.append(("add", f"timed out after {self.timeout} s"))
            return False
        if p.returncode != 0:
            self.errors.append(("add", first_line(p.stderr)))
            return False
        self.add_ms.append((time.monotonic() - t) * 1000)
        self.recorded += 1
        return True

    def sync(self, during_run=True):
        t = time.monotonic()
        try:
            p = subprocess.run(self.cmd("sync", "--json"), capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.errors.append(("sync" if during_run else "final sync", f"timed out after {self.timeout} s"))
            return False
        if p.returncode != 0:
            self.errors.append(("sync" if during_run else "final sync", first_line(p.stderr)))
            return False
        ms = (time.monotonic() - t) * 1000
        # A sync that succeeded after waiting out a 503 or 429 says so on stderr.
        for line in p.stderr.splitlines():
            if "retrying in" in line:
                self.notices.append(line.strip())
        try:
            r = json.loads(p.stdout)
        except ValueError:
            self.errors.append(("sync", "output is not JSON: " + p.stdout[:100]))
            return False
        if during_run:
            self.syncs += 1
            self.sync_ms.append(ms)
            self.pulled += r["pulled"]
            self.pushed += r["pushed"]
        return True

    def loop(self, deadline):
        k = 0
        while time.monotonic() < deadline:
            k += 1
            self.add(k)
            if time.monotonic() >= deadline:
                break
            self.sync()

    def version_vector(self):
        return run(self.cmd("status", "--version-vector"), timeout=self.timeout).stdout.strip()

    def replica_hex(self):
        return json.loads(run(self.cmd("status", "--json"), timeout=self.timeout).stdout)["replica"]

    def export_digest(self):
        return hashlib.sha256(run(self.cmd("export", "--format", "json"), timeout=self.timeout).stdout.encode()).hexdigest()


def first_line(s):
    """The error of a failed command: its last line other than a "retrying in" notice."""
    lines = [l for l in s.strip().splitlines() if l.strip() and "retrying in" not in l]
    return (lines[-1] if lines else s.strip() or "(no message)")[:300]


def normalise_error(line):
    """An error line with its varying parts (ports, counts, times) blanked, to count kinds."""
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return line[:160]


class Servers:
    def __init__(self, args, work, target_url_for_storage):
        self.args = args
        self.work = work
        self.procs = []
        self.ports = []
        self.nginx = None
        self.storage_flag = target_url_for_storage

    def start(self):
        a = self.args
        for k in range(a.servers):
            port = free_port()
            log = open(os.path.join(self.work, f"serve{k}.log"), "w")
            cmd = [a.strata, "serve", *self.storage_flag, "--host", "127.0.0.1", "--port", str(port),
                   "--rate-limit", str(a.rate_limit), "--log-level", "warning"]
            self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
            self.ports.append(port)
        for port in self.ports:
            wait_http(f"http://127.0.0.1:{port}/readyz", 60)
        if a.servers == 1 and not a.proxy:
            return f"http://127.0.0.1:{self.ports[0]}"
        return self.start_nginx()

    def start_nginx(self):
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(nginx):
            fail("nginx is not installed (Debian: apt-get install -y nginx)")
        d = os.path.join(self.work, "nginx")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        # Tools/pg/nginx-two-servers.conf itself, with this run's servers, port and paths.
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "..", "pg", "nginx-two-servers.conf")) as f:
            conf = f.read()
        upstream_lines = [l for l in conf.splitlines() if re.match(r"\s*server 127\.0\.0\.1:707[01] ", l)]
        if len(upstream_lines) != 2 or "listen 127.0.0.1:8080;" not in conf or "http {" not in conf:
            fail("Tools/pg/nginx-two-servers.conf changed: update the substitutions in Tools/load/load.py")
        indent = upstream_lines[0][: len(upstream_lines[0]) - len(upstream_lines[0].lstrip())]
        rest = upstream_lines[0].strip().split(" ", 2)[2]
        servers = "\n".join(f"{indent}server 127.0.0.1:{p} {rest}" for p in self.ports)
        conf = conf.replace(upstream_lines[0] + "\n" + upstream_lines[1], servers)
        conf = conf.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{port};")
        conf = conf.replace("events {}", "events { worker_connections 1024; }")
        conf = conf.replace("http {", f"""http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;""", 1)
        conf = f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\ndaemon off;\n" + conf
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        log = open(os.path.join(d, "stderr.log"), "w")
        self.nginx = subprocess.Popen([nginx, "-p", d, "-c", path], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/readyz", 30)
        return url

    def cpu(self):
        return [proc_cpu(p.pid) for p in self.procs]

    def requests(self):
        """Requests each server counted (its own /metrics), to see how the proxy spread them."""
        counts = []
        for port in self.ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    text = r.read().decode()
            except Exception:  # noqa: BLE001 - a server that does not answer counts as unknown
                counts.append(None)
                continue
            counts.append(int(sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                                  if l.startswith("strata_http_requests_total{") and "/v1/" in l)))
        return counts

    def nginx_cpu(self):
        if not self.nginx:
            return 0.0
        return proc_cpu(self.nginx.pid, children=True) + sum(proc_cpu(c) for c in children_of(self.nginx.pid))

    def stop(self):
        for p in self.procs + ([self.nginx] if self.nginx else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs + ([self.nginx] if self.nginx else []):
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def wait_http(url, seconds):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        time.sleep(0.2)
    fail(f"{url} did not answer 200 within {seconds} s ({last})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strata", required=True, help="the strata binary (a release build)")
    ap.add_argument("--storage", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--database-url", help="an admin URL of the PostgreSQL cluster (a database per run is made in it)")
    ap.add_argument("--pg-dir", help="the cluster's directory (Tools/pg/start-test-cluster.sh's STRATA_TEST_PG_DIR), for CPU times and restarts")
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--proxy", action="store_true", help="put nginx in front even of one server")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=120, help="seconds any one strata command may take")
    ap.add_argument("--rate-limit", type=float, default=0, help="serve's --rate-limit (0: none, to measure capacity)")
    ap.add_argument("--restart-postgres-at", type=float, help="seconds into the run at which to run pg_ctl restart -m fast")
    ap.add_argument("--label", default="")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if a.clients < 1 or a.clients > 1000 or a.seconds <= 0 or a.seconds > 3600 or a.servers < 1 or a.servers > 16:
        fail("--clients must be 1-1000, --seconds 0-3600, --servers 1-16")
    if a.storage == "sqlite" and a.servers != 1:
        fail("a SQLite data directory is served by one process: use --storage postgres for --servers > 1")
    if a.storage == "postgres" and not a.database_url:
        fail("--storage postgres needs --database-url (eval \"$(Tools/pg/start-test-cluster.sh)\" gives one)")
    if a.restart_postgres_at is not None and not (a.storage == "postgres" and a.pg_dir):
        fail("--restart-postgres-at needs --storage postgres and --pg-dir")

    work = tempfile.mkdtemp(prefix="strata-load.")
    pg = Postgres(a.database_url, a.pg_dir) if a.storage == "postgres" else None
    try:
        result = run_load(a, work, pg)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


def run_load(a, work, pg):
    t_setup = time.monotonic()
    # The storage, its project, a token per client and one read token for the auditor.
    if pg:
        db = f"strata_load_{os.getpid()}"
        url = pg.fresh_database(db)
        storage = ["--database", url]
    else:
        storage = ["--data", os.path.join(work, "server")]
    run([a.strata, "server", "project", "add", PROJECT, *storage], timeout=60)
    names = [f"client{i:03d}" for i in range(a.clients)]

    def token(researcher, role="write"):
        return run([a.strata, "server", "token", "create", "--project", PROJECT, "--researcher", researcher,
                    "--role", role, *storage], timeout=60).stdout.strip()

    with ThreadPoolExecutor(4 if pg else 1) as ex:
        tokens = list(ex.map(token, names))
    audit_token = token("auditor", "read")

    servers = Servers(a, work, storage)
    url = servers.start()
    try:
        clients = [Client(i, work, a.strata, url, tokens[i], a.timeout) for i in range(a.clients)]
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda c: c.setup(), clients))
        setup_s = time.monotonic() - t_setup

        # The run: every client records and syncs until the deadline.
        cpu0 = (resource.getrusage(resource.RUSAGE_CHILDREN), servers.cpu(), pg.cpu() if pg else 0.0,
                servers.nginx_cpu(), machine_busy())
        start = time.monotonic()
        deadline = start + a.seconds
        restart = {}
        if a.restart_postgres_at is not None:
            def restarter():
                time.sleep(a.restart_postgres_at)
                t = time.monotonic()
                p = pg.restart()
                restart.update(at_s=round(t - start, 1), took_s=round(time.monotonic() - t, 2),
                               exit=p.returncode, output=first_line(p.stdout + p.stderr))
            rt = threading.Thread(target=restarter, daemon=True)
            rt.start()
        threads = [threading.Thread(target=c.loop, args=(deadline,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=a.seconds + 2 * a.timeout + 30)
        if any(t.is_alive() for t in threads):
            fail("a client thread did not finish within its bound")
        elapsed = time.monotonic() - start
        if a.restart_postgres_at is not None:
            rt.join(timeout=120)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1 = (ru1, servers.cpu(), pg.cpu() if pg else 0.0, servers.nginx_cpu(), machine_busy())
        run_errors = sum(len(c.errors) for c in clients)

        # Final rounds: every client syncs twice more, so each holds what every other pushed.
        # A final sync that fails (e.g. the database restarting) is retried, at most 5 times.
        final_failures = 0
        for _round in range(2):
            def final(c):
                for attempt in range(5):
                    if c.sync(during_run=False):
                        return attempt
                    time.sleep(1)
                return 5
            with ThreadPoolExecutor(8) as ex:
                final_failures += sum(1 for n in ex.map(final, clients) if n > 0)

        # The auditor: a fresh replica that pulls the whole project with a read token.
        auditor = Client(a.clients, work, a.strata, url, audit_token, a.timeout)
        auditor.name = "auditor"
        auditor.store = os.path.join(work, "auditor", "replica.strata")
        auditor.setup()
        if not auditor.sync(during_run=False):
            fail(f"the auditor could not sync: {auditor.errors}")
        audit_vv = auditor.version_vector()
        audit_export = auditor.export_digest()
        audit_changes = json.loads(run(auditor.cmd("status", "--json"), timeout=a.timeout).stdout)["changes"]
        requests_per_server = servers.requests()
    finally:
        servers.stop()
    # Why the servers refused requests, from their logs (warnings: one line per failed request).
    causes = {}
    for k in range(a.servers):
        with open(os.path.join(work, f"serve{k}.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"cause=(.*?) error=(\S+).*? route=(\S+) status=(\d+)", line)
                if m:
                    key = f"{m.group(4)} {m.group(2)} on {m.group(3)}: {normalise_error(m.group(1))[:90]}"
                    causes[key] = causes.get(key, 0) + 1

    # What the server holds, counted in its own storage.
    if pg:
        server_changes = int(pg.psql("SELECT count(*) FROM strata_changes", db=db))
    else:
        project_file = os.path.join(work, "server", "projects", PROJECT + ".strata")
        if not os.path.exists(project_file):
            fail(f"no project store at {project_file}")
        server_changes = int(run(["sqlite3", project_file, "SELECT count(*) FROM changes"], timeout=60).stdout)

    recorded = sum(c.recorded for c in clients)
    vv_parse = {}
    for line in audit_vv.replace(",", " ").split():
        if ":" in line:
            r, s = line.rsplit(":", 1)
            vv_parse[r] = int(s)
    missing = 0
    with ThreadPoolExecutor(8) as ex:
        hexes = list(ex.map(lambda c: c.replica_hex(), clients))
        vvs = list(ex.map(lambda c: c.version_vector(), clients))
        exports = list(ex.map(lambda c: c.export_digest(), clients))
    for c, h in zip(clients, hexes):
        held = next((s for r, s in vv_parse.items() if h.startswith(r) or r.startswith(h)), 0)
        missing += max(0, c.recorded - held)
    identical = sum(1 for v, e in zip(vvs, exports) if v == audit_vv and e == audit_export)

    lat = sorted(ms for c in clients for ms in c.sync_ms)
    add_lat = sorted(ms for c in clients for ms in c.add_ms)
    errors = {}
    for c in clients:
        for phase, line in c.errors:
            key = f"{phase}: {normalise_error(line)}"
            errors[key] = errors.get(key, 0) + 1
    notices = {}
    for c in clients:
        for line in c.notices:
            k = normalise_error(line)
            notices[k] = notices.get(k, 0) + 1
    ru0, srv0, pg0, ngx0, m0 = cpu0
    ru1, srv1, pg1, ngx1, m1 = cpu1
    clients_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    busy = (m1[0] - m0[0]) / CLK
    wall_cores = (m1[1] - m0[1]) / CLK
    result = {
        "label": a.label or f"{a.storage} x{a.servers}",
        "storage": a.storage, "servers": a.servers, "proxy": bool(servers.nginx), "clients": a.clients,
        "seconds": round(elapsed, 1), "setup_s": round(setup_s, 1),
        "recorded": recorded, "syncs": sum(c.syncs for c in clients),
        "changes_per_s": round(recorded / elapsed, 1),
        "syncs_per_s": round(sum(c.syncs for c in clients) / elapsed, 1),
        "pulled": sum(c.pulled for c in clients), "pushed": sum(c.pushed for c in clients),
        "sync_ms_p50": round(pct(lat, 50), 1) if lat else None,
        "sync_ms_p99": round(pct(lat, 99), 1) if lat else None,
        "add_ms_p50": round(pct(add_lat, 50), 1) if add_lat else None,
        "errors_during_run": run_errors, "errors": errors,
        "retries_after_503_or_429": notices,
        "final_syncs_that_needed_a_retry": final_failures,
        "requests_per_server": requests_per_server,
        "server_refusals": causes,
        "server_changes": server_changes, "auditor_changes": audit_changes,
        "changes_lost": missing + max(0, recorded - server_changes) + max(0, recorded - audit_changes),
        "duplicates": max(0, server_changes - recorded),
        "replicas_identical": identical, "replicas": a.clients,
        "cpu_s": {
            "clients": round(clients_cpu, 1),
            "servers": [round(y - x, 1) for x, y in zip(srv0, srv1)],
            # None: PostgreSQL was restarted (a new postmaster), so its times do not add up.
            "postgres": round(pg1 - pg0, 1) if pg1 >= pg0 else None, "nginx": round(ngx1 - ngx0, 1),
            "machine_busy": round(busy, 1), "machine_available": round(wall_cores, 1),
        },
    }
    if restart:
        result["postgres_restart"] = restart
    print(summary(result), file=sys.stderr)
    return result


def summary(r):
    c = r["cpu_s"]
    lines = [
        f"{r['label']}: {r['clients']} clients for {r['seconds']} s: {r['recorded']} changes "
        f"({r['changes_per_s']}/s), {r['syncs']} syncs ({r['syncs_per_s']}/s), sync p50 {r['sync_ms_p50']} ms, "
        f"p99 {r['sync_ms_p99']} ms",
        f"  errors {r['errors_during_run']}, changes lost {r['changes_lost']}, duplicates {r['duplicates']}, "
        f"server holds {r['server_changes']}, replicas identical {r['replicas_identical']} of {r['replicas']}, "
        f"requests per server {r['requests_per_server']}",
        f"  CPU s: clients {c['clients']}, servers {c['servers']}, postgres {c['postgres']}, nginx {c['nginx']}; "
        f"machine busy {c['machine_busy']} of {c['machine_available']} core-seconds",
    ]
    for k, n in sorted(r["errors"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n} x {k}")
    for k, n in sorted(r["retries_after_503_or_429"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {n} x (then succeeded) {k}")
    for k, n in sorted(r["server_refusals"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  server: {n} x {k}")
    if "postgres_restart" in r:
        lines.append(f"  postgres restart: {r['postgres_restart']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
