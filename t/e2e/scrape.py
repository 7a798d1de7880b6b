"""scrape.py - the metrics endpoint against the run: after every case was
judged, each group's daemon is scraped (its metrics.listen, set by the rig)
and its counters must equal, exactly, what the messages of its cases got.

The expected figures come from the `authmilter -t` runs of the cases (a
separate process per copy, which judge_t() already found to agree with the
daemon's answer, header and log line): for each copy that reached the end
of DATA, its action, whether its client was skipped, and every
method=result of the Authentication-Results header it wrote. Compared:
  authmilter_messages_total{action=...}       every action
  authmilter_messages_skipped_total
  authmilter_results_total{method=...,result=...}  every pair, zeros too
  authmilter_message_processing_seconds_count
  authmilter_messages_in_flight, authmilter_connections (0 at the end)
and the exposition passes `promtool check metrics`. (The Grafana
dashboard's queries are checked against a real Prometheus by
t/recipes/metrics.sh.)
"""

import collections
import glob
import http.client
import os
import subprocess

from judge import ar_results, parse_t_output

DEBS = "/var/cache/authmilter-test/debs"
METHODS = ("spf", "dkim", "dmarc", "arc", "iprev")
RESULTS = ("pass", "fail", "softfail", "neutral", "none", "policy",
           "temperror", "permerror")
ACTIONS = ("accept", "reject", "quarantine", "tempfail")


def fetch(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def samples(text):
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            k, _, v = ln.rpartition(" ")
            out[k] = float(v)
    return out


def promtool(tmp):
    tool = os.path.join(tmp, "prom", "usr", "bin", "promtool")
    if not os.path.exists(tool):
        debs = glob.glob(os.path.join(DEBS, "prometheus_*.deb"))
        if not debs:
            raise RuntimeError("no prometheus .deb in %s: run contrib/deps.sh"
                               % DEBS)
        subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(tmp, "prom")],
                       check=True)
    return tool


def expected(group):
    """the counters group's daemon must show, from its cases' -t runs"""
    want = collections.Counter()
    for c in group.cases:
        for i, token in enumerate(c.tokens):
            fut = c.tcheck.get(token)
            if fut is None or i >= len(c.outcomes) or \
                    c.outcomes[i][0] != "end of DATA":
                continue
            run = fut.result()
            t, _ = parse_t_output(run.out)
            if t["action"] is None:
                raise RuntimeError("%s: -t gave no action" % c.name)
            want['authmilter_messages_total{action="%s"}' % t["action"]] += 1
            want["authmilter_message_processing_seconds_count"] += 1
            if t["skipped"] is not None:
                want["authmilter_messages_skipped_total"] += 1
            if t["ar"] is None:
                continue
            for method, result, _, _ in ar_results(t["ar"].split(":", 1)[1]):
                if result:
                    want['authmilter_results_total{method="%s",result="%s"}'
                         % (method, result)] += 1
    return want


def check_metrics(groups, tmp):
    """[(group name, [problems])] for every group with a daemon"""
    out = []
    for g in groups:
        if not g.metrics_port or not (g.cases or g.index == 0):
            continue
        problems = []
        status, text = fetch(g.metrics_port)
        if status != 200:
            out.append((g.name, ["GET /metrics: %d" % status], 0))
            continue
        got = samples(text)
        want = expected(g)
        keys = ['authmilter_messages_total{action="%s"}' % a for a in ACTIONS]
        keys += ['authmilter_results_total{method="%s",result="%s"}' % (m, r)
                 for m in METHODS for r in RESULTS]
        keys += ["authmilter_messages_skipped_total",
                 "authmilter_message_processing_seconds_count"]
        for k in sorted(set(keys) | set(want)):
            if got.get(k) != want.get(k, 0):
                problems.append("%s = %s, the messages say %d"
                                % (k, got.get(k), want.get(k, 0)))
        for k in ("authmilter_messages_in_flight", "authmilter_connections"):
            if got.get(k) != 0:
                problems.append("%s = %s at the end, want 0" % (k, got.get(k)))
        path = os.path.join(tmp, g.name + ".metrics")
        with open(path, "w") as f:
            f.write(text)
        with open(path) as f:
            lint = subprocess.run([promtool(tmp), "check", "metrics"], stdin=f,
                                  capture_output=True, text=True, timeout=60)
        if lint.returncode != 0:
            problems.append("promtool check metrics: %s"
                            % (lint.stdout + lint.stderr).strip()[-400:])
        out.append((g.name, problems,
                    sum(v for k, v in want.items()
                        if k.startswith("authmilter_messages_total{"))))
    return out
