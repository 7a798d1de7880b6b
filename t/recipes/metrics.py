#!/usr/bin/env python3
"""metrics.py - the README's metrics recipes, run as written; authmilter(8)
and the Grafana dashboard checked against what the daemon exports.

Started by t/recipes/metrics.sh inside private network, mount and pid
namespaces (only lo). The recipes are README.md's fenced blocks after a
line "<!-- recipe: NAME -->" (as in t/recipes/run.py):

  metrics.conf     authmilter.conf lines, the start of the daemon's
                   configuration (the test adds the milter socket,
                   authserv_id, dns and trusted_networks after them);
  metrics.sh       run with "sh -e" as root exactly as written;
  metrics.out      the output README shows for metrics.sh (values aside);
  prometheus.yml   the scrape configuration, given to promtool and to a
                   Prometheus (the test adds only a global 1 s interval).

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

metrics-conf       authmilter -n accepts the configuration; the daemon
                   serves the endpoint at metrics.conf's address.
metrics-curl       after three messages through the milter (a DMARC pass,
                   a p=reject failure, one from a trusted client) recipe
                   metrics.sh prints README's metrics.out lines, with the
                   counts accept 2, reject 1, quarantine 0, tempfail 0.
metrics-man        the families of authmilter(8)'s METRICS section are
                   those the daemon exports (# TYPE lines), with the same
                   type, and every label and label value of the scrape
                   (but le and version) is named in its family's entry.
prometheus-config  promtool check config accepts recipe prometheus.yml;
                   its one target is metrics.conf's address.
prometheus-scrape  a Prometheus with that configuration (Debian's package,
                   unpacked) scrapes the daemon: the target is up.
grafana-json       contrib/grafana/authmilter.json is JSON with a
                   DS_PROMETHEUS input that every panel and query uses,
                   unique panel ids, and every exported family in its
                   queries and no other authmilter_ name.
grafana-queries    every query of the dashboard ($__rate_interval,
                   $__range, $instance put in) evaluates on that Prometheus
                   without error and returns data; messages/s is above 0.

Exit status 0 when all pass, 1 otherwise, 99 when the rig could not be
set up. Environment: top_srcdir, top_builddir; AM_RECIPES_DEBS (default
/var/cache/authmilter-test/debs); RECIPES_KEEP=1 keeps the temporary
directory.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("top_builddir", SRCDIR)
sys.dont_write_bytecode = True          # no __pycache__ left in t/
sys.path.insert(0, os.path.join(SRCDIR, "t"))
sys.path.insert(0, os.path.join(SRCDIR, "t", "e2e"))
import rig                              # e2e's rig: NSD, ports, waits
from milterclient import MilterClient


def _recipes_run():
    """t/recipes/run.py (t/e2e has a run.py too, first on the path)"""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "recipes_run", os.path.join(HERE, "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_run = _recipes_run()
Checks, Fail, readme_recipes, run_sh = (_run.Checks, _run.Fail,
                                        _run.readme_recipes, _run.run_sh)

DEBS = os.environ.get("AM_RECIPES_DEBS", "/var/cache/authmilter-test/debs")
TIMEOUT = 20.0
RECIPES = ["metrics.conf", "metrics.sh", "metrics.out", "prometheus.yml"]
DASHBOARD = os.path.join(SRCDIR, "contrib", "grafana", "authmilter.json")
MAN8 = os.path.join(BUILDDIR, "doc", "authmilter.8")

CLIENT = "192.0.2.10"                   # not trusted; PTR mail.example.org
TEST_CONF = """\
socket = "inet:%(milter)d@127.0.0.1";
authserv_id = "mx.test.example";
dns = { nameservers = [ "127.0.0.1@%(dns)d" ]; timeout_ms = 2000; };
trusted_networks = [ "127.0.0.1/32" ];
"""
DNS = [
    ("pass.example.org.", 'TXT "v=spf1 ip4:%s -all"' % CLIENT),
    ("_dmarc.pass.example.org.", 'TXT "v=DMARC1; p=reject"'),
    ("reject.example.org.", 'TXT "v=spf1 ip4:192.0.2.1 -all"'),
    ("_dmarc.reject.example.org.", 'TXT "v=DMARC1; p=reject"'),
    ("10.2.0.192.in-addr.arpa.", "PTR mail.example.org."),
    ("mail.example.org.", "A %s" % CLIENT),
]
# the dashboard's Grafana variables, as the test evaluates its queries
GRAFANA_VARS = {"$__rate_interval": "1m", "$__range": "1m",
                "$instance": ".+"}


# ---- the exposition -------------------------------------------------------

def scrape(addr):
    with urllib.request.urlopen("http://%s/metrics" % addr,
                                timeout=TIMEOUT) as r:
        return r.read().decode("utf-8")


def families(text):
    """{family: type} from the # TYPE lines"""
    return dict(re.findall(r"(?m)^# TYPE (\S+) (\S+)$", text))


def label_values(text):
    """{family: {label: {values}}} of the samples (_bucket, _sum, _count
    belong to their histogram)"""
    fams = families(text)
    out = {}
    for name, labels in re.findall(r"(?m)^([a-z_:][a-z0-9_:]*)\{([^}]*)\} ",
                                   text):
        fam = name
        if fam not in fams:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
        for k, v in re.findall(r'([a-z_]+)="([^"]*)"', labels):
            out.setdefault(fam, {}).setdefault(k, set()).add(v)
    return out


def sample(text, series):
    m = re.search(r"(?m)^%s (\S+)$" % re.escape(series), text)
    return float(m.group(1)) if m else None


# ---- authmilter(8) --------------------------------------------------------

def man_entries(path):
    """{family: (type word, entry text)} of the METRICS section's list:
    an entry is its .It line (one family or several, then "Pq type...")
    up to the next .It or .El"""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"(?ms)^\.Sh METRICS\n(.*?)^\.Sh ", text)
    if not m:
        raise Fail("%s has no METRICS section" % path)
    out = {}
    for item in re.split(r"(?m)^(?=\.It )|^\.El$", m.group(1))[1:]:
        head = item.split("\n", 1)[0]
        if not head.startswith(".It "):
            continue
        names = re.findall(r"\bCm (authmilter_[a-z0-9_]+)", head)
        kind = re.search(r"Pq (counter|gauge|histogram)", head)
        for n in names:
            out[n] = (kind.group(1) if kind else None, item)
    return out


def check_man(text):
    exported = families(text)
    documented = man_entries(MAN8)
    problems = []
    for f in sorted(set(exported) - set(documented)):
        problems.append("%s exported, not in authmilter(8)" % f)
    for f in sorted(set(documented) - set(exported)):
        problems.append("%s in authmilter(8), not exported" % f)
    for f in sorted(set(exported) & set(documented)):
        kind, entry = documented[f]
        if kind != exported[f]:
            problems.append("%s: a %s, authmilter(8) says %s"
                            % (f, exported[f], kind))
    for f, labels in sorted(label_values(text).items()):
        if f not in documented:
            continue
        entry = documented[f][1]
        for label, values in sorted(labels.items()):
            if label == "le":
                continue
            words = [label] + ([] if label == "version" else sorted(values))
            for w in words:
                if not re.search(r"(?m)(^\.|\s)Cm %s(\s|$)" % re.escape(w),
                                 entry):
                    problems.append("%s: authmilter(8) does not name %s"
                                    % (f, w if w == label
                                       else '%s="%s"' % (label, w)))
    if problems:
        raise Fail("; ".join(problems))


# ---- the dashboard --------------------------------------------------------

def dashboard_queries(dash):
    """every query expression, with the panel's title"""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p.get("title"), t))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    return out


def check_dashboard(dash, text):
    problems = []
    inputs = [i.get("name") for i in dash.get("__inputs", [])
              if i.get("pluginId") == "prometheus"]
    if inputs != ["DS_PROMETHEUS"]:
        problems.append("inputs %s, want one prometheus input DS_PROMETHEUS"
                        % inputs)
    want_ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p.get("id"))
            if p.get("type") != "row" and p.get("datasource") != want_ds:
                problems.append("panel %r: datasource %s"
                                % (p.get("title"), p.get("datasource")))
            walk(p.get("panels", []))
    walk(dash.get("panels", []))
    if len(set(ids)) != len(ids):
        problems.append("panel ids not unique: %s" % ids)
    for v in dash.get("templating", {}).get("list", []):
        if v.get("datasource") != want_ds:
            problems.append("variable %s: datasource %s"
                            % (v.get("name"), v.get("datasource")))
    queries = dashboard_queries(dash)
    if not queries:
        problems.append("no queries")
    used = set()
    for title, t in queries:
        if t.get("datasource") != want_ds:
            problems.append("panel %r, query %s: datasource %s"
                            % (title, t.get("refId"), t.get("datasource")))
        for n in re.findall(r"\bauthmilter_[a-z0-9_]+", t.get("expr", "")):
            used.add(re.sub(r"_(bucket|sum|count)$", "", n)
                     if n not in families(text) else n)
    exported = set(families(text))
    for f in sorted(used - exported):
        problems.append("%s on the dashboard, not exported" % f)
    for f in sorted(exported - used):
        problems.append("%s exported, not on the dashboard" % f)
    if problems:
        raise Fail("; ".join(problems))


def grafana_expr(expr):
    for k in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(k, GRAFANA_VARS[k])
    if "$" in expr:
        raise Fail("a Grafana variable the test does not know: %s" % expr)
    return expr


def prom_query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
        port, urllib.parse.urlencode({"query": expr}))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            body = r.read().decode()
    except urllib.error.HTTPError as e:       # 400, 422: PromQL errors
        body = e.read().decode()
    try:
        return json.loads(body)
    except ValueError:                          # 503 while it starts
        return {"status": "error", "error": body.strip()}


def check_queries(dash, port):
    problems = []
    for title, t in dashboard_queries(dash):
        expr = grafana_expr(t.get("expr", ""))
        r = prom_query(port, expr)
        if r.get("status") != "success":
            problems.append("panel %r: %s: %s"
                            % (title, expr, r.get("error", r)))
        elif not r["data"]["result"]:
            problems.append("panel %r: %s: no data" % (title, expr))
    r = prom_query(port, grafana_expr(
        'sum(rate(authmilter_messages_total{instance=~"$instance"}'
        '[$__rate_interval]))'))
    res = r.get("data", {}).get("result", [])
    if not res or not float(res[0]["value"][1]) > 0:
        problems.append("messages/s is not above 0: %s" % r)
    if problems:
        raise Fail("; ".join(problems))


# ---- the rig --------------------------------------------------------------

class Zone:
    dns = DNS


def unpack_prometheus(tmp):
    found = sorted(glob.glob(os.path.join(DEBS, "prometheus_*.deb")))
    if not found:
        raise Fail("no prometheus_*.deb in %s: run contrib/deps.sh (it "
                   "keeps it there; the test never downloads)" % DEBS)
    root = os.path.join(tmp, "prometheus-deb")
    os.makedirs(root)
    deb = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", found[-1]],
                           stdout=subprocess.PIPE)
    r = subprocess.run(["tar", "-x", "-C", root, "./usr/bin/prometheus",
                        "./usr/bin/promtool"], stdin=deb.stdout,
                       capture_output=True, text=True)
    deb.stdout.close()
    deb.wait()
    if r.returncode != 0 or deb.returncode != 0:
        raise Fail("unpacking %s: %s" % (found[-1], r.stderr))
    return os.path.join(root, "usr", "bin")


def send_messages(milter_port):
    """a DMARC pass and a p=reject failure from CLIENT, one message from
    a trusted client: accept 2 (one skipped), reject 1"""
    spec = "inet:%d@127.0.0.1" % milter_port
    want = [(CLIENT, "pass.example.org", "a"),
            (CLIENT, "reject.example.org", "r"),
            ("127.0.0.1", "reject.example.org", "a")]
    for ip, domain, verdict in want:
        c = MilterClient(spec, timeout=TIMEOUT)
        try:
            r = c.message(ip=ip, mail_from="<user@%s>" % domain,
                          headers=[("From", " <user@%s>" % domain),
                                   ("Subject", " metrics recipe"),
                                   ("Message-ID", " <%s@%s>"
                                    % (os.urandom(6).hex(), domain))],
                          body=b"hello\r\n")
        finally:
            c.close()
        got = r["verdict"]
        if got == "c":
            got = "a"
        if got != verdict:
            raise Fail("message from %s as %s: verdict %r, want %r (%s)"
                       % (ip, domain, r["verdict"], verdict, r))


def check_curl(out, readme_out):
    got = [ln for ln in out.splitlines() if ln.strip()]
    want = [ln for ln in readme_out.splitlines() if ln.strip()]
    shape = [ln.rsplit(" ", 1)[0] for ln in got]
    if shape != [ln.rsplit(" ", 1)[0] for ln in want]:
        raise Fail("recipe metrics.sh printed %r, README's metrics.out "
                   "shows %r" % (got, want))
    counts = {re.search(r'action="(\w+)"', ln).group(1):
              ln.rsplit(" ", 1)[1] for ln in got}
    if counts != {"accept": "2", "reject": "1", "quarantine": "0",
                  "tempfail": "0"}:
        raise Fail("counts %s, want accept 2, reject 1, quarantine 0, "
                   "tempfail 0" % counts)


def listen_of(conf):
    m = re.search(r'listen\s*=\s*"([^"]+)"', conf)
    if not m:
        raise Fail("recipe metrics.conf sets no metrics listen address")
    return m.group(1)


def main():
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="am-metrics-")
    procs = []
    checks = Checks()
    keep = os.environ.get("RECIPES_KEEP") == "1"
    rig_broken = False
    try:
        recipes = readme_recipes(os.path.join(SRCDIR, "README.md"))
        missing = [r for r in RECIPES if r not in recipes]
        if missing:
            raise rig.RigError("README.md lacks the recipe block(s) %s"
                               % ", ".join(missing))
        p = rig.free_ports(3)
        ports = dict(dns=p[0], milter=p[1], prom=p[2])
        rig.start_nsd(tmp, ports["dns"], [Zone], [], procs)
        bindir = unpack_prometheus(tmp)
        addr = listen_of(recipes["metrics.conf"])

        # -- the daemon with recipe metrics.conf
        conf = os.path.join(tmp, "authmilter.conf")
        rig.write(conf, recipes["metrics.conf"] + TEST_CONF % ports)
        exe = os.path.join(BUILDDIR, "authmilter")
        daemon = None

        def start():
            nonlocal daemon
            chk = subprocess.run([exe, "-n", "-c", conf], capture_output=True,
                                 text=True, timeout=TIMEOUT)
            if chk.returncode != 0:
                raise Fail("authmilter -n: exit %d: %s%s"
                           % (chk.returncode, chk.stdout, chk.stderr))
            err = open(os.path.join(tmp, "authmilter.stderr"), "wb")
            daemon = subprocess.Popen([exe, "-f", "-c", conf], stdout=err,
                                      stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
            procs.append(("authmilter", daemon))
            try:
                rig.wait_for("authmilter", lambda: rig.tcp_accepts(
                    ports["milter"]), daemon)
                rig.wait_for("the metrics endpoint", lambda: "# TYPE"
                             in scrape(addr), daemon)
            except rig.RigError as e:
                raise Fail(str(e))
        if not checks.run("metrics-conf", start):
            raise rig.RigError("no daemon to check")

        # -- the curl line, after three messages
        def curl():
            send_messages(ports["milter"])
            run_sh("metrics.sh", recipes["metrics.sh"], tmp)
            with open(os.path.join(tmp, "recipe-metrics.sh.out")) as f:
                check_curl(f.read(), recipes["metrics.out"])
        checks.run("metrics-curl", curl)
        text = scrape(addr)
        with open(os.path.join(tmp, "scrape.txt"), "w") as f:
            f.write(text)
        checks.run("metrics-man", check_man, text)

        # -- Prometheus with recipe prometheus.yml
        promyml = os.path.join(tmp, "prometheus-recipe.yml")
        rig.write(promyml, recipes["prometheus.yml"])

        def promconfig():
            r = subprocess.run([os.path.join(bindir, "promtool"), "check",
                                "config", promyml], capture_output=True,
                               text=True, timeout=TIMEOUT)
            if r.returncode != 0:
                raise Fail("promtool check config: exit %d: %s%s"
                           % (r.returncode, r.stdout, r.stderr))
            targets = re.findall(r"targets:\s*\[([^\]]*)\]",
                                 recipes["prometheus.yml"])
            got = [t.strip().strip("\"'") for ts in targets
                   for t in ts.split(",") if t.strip()]
            if got != [addr]:
                raise Fail("targets %s, want [%s] (metrics.conf)"
                           % (got, addr))
        checks.run("prometheus-config", promconfig)

        runyml = os.path.join(tmp, "prometheus.yml")
        rig.write(runyml, "global:\n  scrape_interval: 1s\n"
                  "  evaluation_interval: 1s\n" + recipes["prometheus.yml"])
        err = open(os.path.join(tmp, "prometheus.stderr"), "wb")
        prom = subprocess.Popen(
            [os.path.join(bindir, "prometheus"), "--config.file=" + runyml,
             "--storage.tsdb.path=" + os.path.join(tmp, "prometheus-data"),
             "--web.listen-address=127.0.0.1:%d" % ports["prom"]],
            stdout=err, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=tmp)
        procs.append(("prometheus", prom))

        def up():
            r = prom_query(ports["prom"], 'up{job="authmilter"}')
            res = r.get("data", {}).get("result", [])
            return res and res[0]["value"][1] == "1"

        def promscrape():
            try:
                rig.wait_for("prometheus", lambda: up(), prom)
            except rig.RigError as e:
                raise Fail("the target is not up: %s" % e)
            # messages between two scrapes: rates above 0
            send_messages(ports["milter"])
            time.sleep(3)
        scraped = checks.run("prometheus-scrape", promscrape)

        dash = None

        def grafana_json():
            nonlocal dash
            with open(DASHBOARD, encoding="utf-8") as f:
                try:
                    dash = json.load(f)
                except ValueError as e:
                    raise Fail("%s: %s" % (DASHBOARD, e))
            check_dashboard(dash, text)
        checks.run("grafana-json", grafana_json)
        if dash is not None and scraped:
            checks.run("grafana-queries", check_queries, dash, ports["prom"])
    except Exception as e:
        rig.log("metrics recipes: rig failure: %s: %s" % (type(e).__name__, e))
        if not isinstance(e, (rig.RigError, Fail)):
            traceback.print_exc(file=sys.stdout)
        rig_broken = True
    finally:
        rig.stop_processes(procs)
        if checks.failed or rig_broken:
            for name in ["authmilter.stderr", "prometheus.stderr",
                         "nsd/nsd.log"]:
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    rig.log("--- %s" % path)
                    rig.log(rig.tail(path, 25))
        if keep or checks.failed or rig_broken:
            rig.log("metrics recipes: files kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rig.log("metrics recipes: %.1f s" % (time.monotonic() - t0))
    rig.log("metrics-recipes: %d passed, %d failed"
            % (checks.passed, checks.failed))
    if rig_broken:
        return 99
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
