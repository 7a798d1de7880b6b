#!/usr/bin/python3
"""report.py - the benchmark's table: throughput, latency, CPU, memory and
verdict correctness of authmilter and of the peer chain, side by side.

Usage: report.py WORKDIR

Reads what bench/run left in WORKDIR:
  runs.tsv   one line per milterload run, tab-separated:
             side transport conc mpc cpu_ticks clk_tck results summary
             [client_cpu_s [ticks_each [other_ticks steal_ticks]]]
             (mpc: messages per connection, "1" or "10" (milterload
             --group), or "1+nodelay": TCP_NODELAY on milterload's side;
             sides authmilter-base, -stack1m, -cache1g: the
             per-connection experiments)
             (side: authmilter | authmilter-psl | peers; authmilter is
             dmarc.discovery = "treewalk", authmilter-psl "psl", unix
             sockets only; cpu_ticks: utime+stime of the
             side's daemons, summed, during the run; results: the run's
             per-message TSV, relative to WORKDIR; summary: milterload's
             "milterload: msgs=... " line; client_cpu_s: milterload's own
             user+system seconds; ticks_each: cpu_ticks per daemon, in
             the order authmilter, or opendkim,opendmarc; other_ticks:
             the machine's busy CPU during the run that was neither the
             daemons' nor milterload's, from /proc/stat; steal_ticks: the
             hypervisor's steal)
  scrape.tsv side - time ok|bad status bytes ms messages_total
             dns_cache_misses content_type: bench's scrapes of /metrics
  scrape-windows.tsv  side round t0 t1: the metrics daemon's timed runs
  dns-variants.tsv    as dns.tsv, mode = the side of a daemon of the
             per-connection experiments or the feature cost
  openssl-speed.txt  openssl speed output (sha256 at 16 KB blocks,
             rsa1024, rsa2048, ed25519), for the crypto floor (optional)
  rss.tsv    side transport daemon vmhwm_kb
  growth.tsv side daemon slice messages_so_far vmrss_kb errors tempfail
  conv.tsv   messages cpu_ticks clk_tck [mpc] (authmilter with every
             method off; a line per messages-per-connection value)
             (optional: VmRSS after each slice of many messages through
             the unix-socket daemons)
  e2e.tsv    config transport messages secs status   (optional)
  dns.tsv    mode pass messages dns_queries dns_cache_misses dmarc_lookups
             (optional; mode treewalk | psl, pass cold | runs; the
             counters of the daemon's stats registry from its exit line,
             "-" when absent): the DMARC DISCOVERY section
  corpus/corpus.tsv  the expectations (column names)
Prints the table on stdout. Exit 0, or 1 when WORKDIR lacks runs.tsv.

CORRECTNESS. Every row of every run's per-message TSV is judged (so a
verdict that changes under concurrency shows up), against the corpus's
exp_ columns:
  authmilter  (and authmilter-psl)
              its Authentication-Results header: the spf= result for the
              MAIL FROM identity (smtp.mailfrom; for the null sender the
              smtp.helo one when no smtp.mailfrom is given), the dkim=
              results in order, the dmarc= result; and the action (accept,
              reject, quarantine, tempfail). exp "-": no header at all.
  peers       OpenDMARC's dmarc= result and the action of the chain. A
              message OpenDMARC rejects carries no header (the reject is
              its result): dmarc counts as fail then. OpenDKIM's dkim= and
              OpenDMARC's spf= are compared too, as "all results", except
              for the authenticated client (OpenDKIM has no such skip and
              still writes dkim=none; only OpenDMARC is told to skip).
"verdicts" = action and dmarc right; "all results" = spf, dkim, dmarc and
action right.
"""

import os
import re
import sys
from collections import Counter, defaultdict


def read_tsv(path):
    with open(path) as f:
        return [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]


def parse_summary(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


# ---- Authentication-Results ---------------------------------------------

def ar_results(values):
    """[(method, result, props)] from A-R values (authserv-id first)"""
    out = []
    for v in values:
        v = re.sub(r"\([^()]*\)", " ", v)   # comments (not nested here)
        parts = v.split(";")
        for p in parts[1:]:
            m = re.match(r"\s*([a-z0-9-]+)\s*=\s*([a-z]+)(.*)", p.strip(),
                         re.I | re.S)
            if m:
                out.append((m.group(1).lower(), m.group(2).lower(),
                            m.group(3)))
    return out


def spf_of(res, null_sender):
    for meth, r, props in res:
        if meth == "spf" and "smtp.mailfrom" in props:
            return r
    if null_sender:
        for meth, r, props in res:
            if meth == "spf" and "smtp.helo" in props:
                return r
    return None


def judge(side, row, exp):
    """(verdict_ok, all_ok, got, want) for one result row"""
    verdict, quarantine, ars = row["verdict"], row["quarantine"], row["ar"]
    action = {"a": "accept", "c": "accept", "r": "reject", "t": "tempfail",
              "d": "discard", "q": "quarantine"}.get(verdict[:1].lower(),
                                                     verdict)
    if quarantine and action == "accept":
        action = "quarantine"
    res = ar_results(ars)
    null_sender = exp.get("mail_from") == "<>"
    spf = spf_of(res, null_sender)
    dkim = " ".join(r for m, r, _ in res if m == "dkim") or None
    dmarcs = [r for m, r, _ in res if m == "dmarc"]
    dmarc = dmarcs[0] if dmarcs else None
    if side == "peers" and dmarc is None and action == "reject":
        dmarc = "fail"
    want = (exp["exp_spf"], exp["exp_dkim"], exp["exp_dmarc"],
            exp["exp_action"])
    skipped = exp["exp_dmarc"] == "-"
    if skipped:
        if side.startswith("authmilter"):
            got = ("-" if not res else spf, "-" if not res else dkim,
                   "-" if not res else dmarc, action)
        else:
            got = ("-", "-", "-" if dmarc is None else dmarc, action)
    else:
        got = (spf or "missing", dkim or "missing", dmarc or "missing",
               action)
    verdict_ok = got[2] == want[2] and got[3] == want[3]
    return verdict_ok, verdict_ok and got == want, got, want


def load_results(path, ncorpus_extra):
    """rows of a milterload -o file: id, verdict, reply, quarantine, the
    A-R values (one or more columns), latency_ms, the corpus's columns"""
    rows = []
    for f in read_tsv(path):
        if len(f) < 5 + ncorpus_extra or f[0] == "id":
            continue
        mid = f[4:len(f) - ncorpus_extra - 1]
        ars = []
        for col in mid:
            for v in re.split(r"\s*\|\s*(?=[A-Za-z0-9._-]+\s*;)", col):
                if v.strip() and v.strip() != "-":
                    ars.append(v.strip())
        rows.append(dict(id=f[0], verdict=f[1], reply=f[2],
                         quarantine=f[3], ar=ars))
    return rows


def crypto_floor(work, corpus):
    """mean crypto cost of a corpus message in ms (None without
    openssl-speed.txt): one verify per signature with its algorithm and
    key size, SHA-256 over the message file for signed messages"""
    path = os.path.join(work, "openssl-speed.txt")
    if not os.path.exists(path):
        return None
    text = open(path).read()
    m = re.search(r"^sha256\s+([\d.]+)k", text, re.M)
    sha = float(m.group(1)) * 1000 if m else None          # bytes/s
    verify = {}
    for bits in ("1024", "2048"):
        m = re.search(r"^rsa %s bits\s+\S+\s+([\d.]+)s" % bits, text, re.M)
        if m:
            verify["rsa" + bits] = float(m.group(1))
    m = re.search(r"\(Ed25519\)\s+\S+\s+\S+\s+[\d.]+\s+([\d.]+)", text)
    if m:
        verify["ed25519"] = 1.0 / float(m.group(1))
    if not sha or len(verify) < 3:
        return None
    cols = corpus[0]
    base = os.path.join(work, "corpus")
    total = 0.0
    for r in corpus[1:]:
        row = dict(zip(cols, r))
        if row.get("exp_dmarc") == "-":
            continue                # skipped (authenticated): no crypto
        raw = open(os.path.join(base, row["file"]), "rb").read()
        head = raw.split(b"\r\n\r\n", 1)[0]
        sigs = re.findall(rb"(?ims)^DKIM-Signature:(.*?)(?=^\S)", head + b"\r\nX:")
        for sig in sigs:
            a = re.search(rb"a=([\w-]+)", sig)
            sel = re.search(rb"s=([\w-]+)", sig)
            if a and a.group(1) == b"ed25519-sha256":
                total += verify["ed25519"]
            elif sel and sel.group(1) == b"rsa1024":
                total += verify["rsa1024"]
            else:
                total += verify["rsa2048"]
            total += len(raw) / sha
    return total * 1000.0 / (len(corpus) - 1)


# ---- formatting ------------------------------------------------------------

def num(v, fmt="%.1f"):
    return "-" if v is None else fmt % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2f" % (a / b)


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def growth_section(work, w):
    """GROWTH: VmRSS after each slice, and slice 2 to the last (slice 1
    warms up caches and the allocator)."""
    path = os.path.join(work, "growth.tsv")
    rows = read_tsv(path) if os.path.exists(path) else []
    if not rows:
        return
    per = defaultdict(list)
    order = []
    bad = Counter()
    for side, daemon, sl, msgs, kb, errors, tempfail in rows:
        if (side, daemon) not in per:
            order.append((side, daemon))
        per[(side, daemon)].append((int(sl), int(msgs), int(kb)))
        for v in (errors, tempfail):
            if v not in ("0", ""):
                bad[side] += int(v) if v.isdigit() else 1
    n = max(len(v) for v in per.values())
    size = per[order[0]][0][1]
    w("")
    w("GROWTH (the unix-socket daemons above, kept running: %d slices of "
      "{:,} messages at".format(size) % n)
    w("concurrency 32; VmRSS in MB after each slice; slice 1 warms up, "
      "so the change is from slice 2):")
    w("  %-21s %s | %d minus 2" % ("", " ".join("%5d" % i for i in
                                                range(1, n + 1)), n))
    for key in order:
        v = per[key]
        mb = [kb / 1024.0 for _, _, kb in v]
        d = ("%+6.1f MB (%+.1f%%)" % (mb[-1] - mb[1],
                                      100.0 * (mb[-1] - mb[1]) / mb[1])
             if len(mb) > 2 and mb[1] else "-")
        w("  %-21s %s | %s" % ("%s %s" % key if key[0] != key[1]
                               else key[0],
                               " ".join("%5.1f" % x for x in mb), d))
    for side, k in sorted(bad.items()):
        w("  %s: %d errors or tempfails during the slices" % (side, k))


def discovery_section(work, runs, order, w):
    """DMARC DISCOVERY: DNS per message from dns.tsv, msgs/s of the two
    modes over unix sockets next to the peers"""
    path = os.path.join(work, "dns.tsv")
    rows = read_tsv(path) if os.path.exists(path) else []
    concs = [c for t, c in order if t == "unix" and
             ("authmilter-psl", t, c, "1") in runs]
    if not rows and not concs:
        return
    w("")
    w("DMARC DISCOVERY (treewalk: RFC 9989's DNS tree walk, the default; "
      "psl: RFC 7489 with the")
    w("Public Suffix List, dmarc.discovery = \"psl\"; same corpus, same "
      "NSD, same run)")
    if rows:
        w("")
        w("DNS per message, from each daemon's stats registry (exit line): "
          "dns_q = answers handed")
        w("to the checks (dns_queries_total, cache hits included), misses = "
          "lookups past the answer")
        w("cache toward the DNS server (dns_cache_misses_total), dmarc_q = "
          "_dmarc queries of the")
        w("walks (dmarc_lookups_total, the per-message memo's hits "
          "excluded). cold: a fresh daemon,")
        w("the corpus once at concurrency 1; runs: the daemon of the "
          "unix-socket runs (warm-up,")
        w("every concurrency and, for treewalk, the growth slices).")
        w("  %-9s %-5s %8s %8s %8s %8s" % ("mode", "pass", "msgs", "dns_q",
                                             "misses", "dmarc_q"))
        for f in rows:
            mode, pss, n = f[0], f[1], fnum(f[2])
            vals = [fnum(x) for x in f[3:6]]
            w("  %-9s %-5s %8s %8s %8s %8s"
              % (mode, pss, f[2], *[num(v / n if v is not None and n
                                        else None, "%.2f") for v in vals]))
        by = {(f[0], f[1]): f for f in rows}
        for pss in ("cold", "runs"):
            a, b = by.get(("treewalk", pss)), by.get(("psl", pss))
            if not a or not b:
                continue
            qa, qb = fnum(a[3]), fnum(b[3])
            ma, mb = fnum(a[4]), fnum(b[4])
            na, nb = fnum(a[2]), fnum(b[2])
            if None in (qa, qb, ma, mb) or not na or not nb:
                continue
            w("  %s: treewalk/psl dns_q per message %s, misses per message "
              "%s" % (pss, ratio(qa / na, qb / nb), ratio(ma / na, mb / nb)))
    if concs:
        w("")
        w("msgs/s and cpu_ms over unix sockets, one message per connection "
          "(bench/milterload):")
        w("  %4s | %9s %7s | %9s %7s | %9s | %s" % (
            "conc", "treewalk", "cpu_ms", "psl", "cpu_ms", "peers",
            "treewalk/psl msgs/s"))
        for c in concs:
            a = runs.get(("authmilter", "unix", c, "1"))
            b = runs.get(("authmilter-psl", "unix", c, "1"))
            p = runs.get(("peers", "unix", c, "1"))

            def g(r):
                return fnum(r["s"].get("msgs_per_s")) if r else None
            w("  %4d | %9s %7s | %9s %7s | %9s | %s" % (
                c, num(g(a), "%.0f"), num(a["cpu"] if a else None, "%.3f"),
                num(g(b), "%.0f"), num(b["cpu"] if b else None, "%.3f"),
                num(g(p), "%.0f"), ratio(g(a), g(b))))


COST_VARIANTS = [
    ("authmilter-cost-base", "as the main rows: metrics off, iprev on"),
    ("authmilter-cost-metrics", "metrics.listen on, GET /metrics once/s"),
    ("authmilter-cost-noiprev", "iprev.enable = false"),
    ("authmilter-cost-reports", "reports on, SQLite store (issue 14)"),
    ("authmilter-cost-prev", "an earlier build (--cost-prev), as base"),
]
COST_GOALS = [
    # (label, variant with the feature on, variant with it off, goal %)
    ("metrics on vs off", "authmilter-cost-metrics", "authmilter-cost-base",
     2.0),
    ("iprev on vs off (warm cache)", "authmilter-cost-base",
     "authmilter-cost-noiprev", 5.0),
    ("reports on (SQLite) vs off", "authmilter-cost-reports",
     "authmilter-cost-base", 10.0),
    # the stats registry counts whether metrics.listen is set or not: what
    # this build costs against an earlier one (run --cost-prev), metrics
    # off in both
    ("this build vs --cost-prev's", "authmilter-cost-base",
     "authmilter-cost-prev", 2.0),
]


# a round is quiet for a pair when other work on the machine took under
# this many CPUs during both runs
COST_QUIET = 0.25


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def pct(v):
    return "-" if v is None else "%+.1f%%" % v


def feature_cost_section(work, runs, judged, w):
    """FEATURE COST (issue 15): msgs/s and CPU per message of authmilter as
    run, with metrics on and scraped, and with iprev off, alternating
    rounds at concurrency 32; the median of the rounds, the cost of each
    feature as a share, beside its goal"""
    got = {}
    for side, _ in COST_VARIANTS:
        keys = [k for k in runs if k[0] == side and k[3] == "1"]
        if keys:
            got[side] = runs[keys[0]]
    if not got:
        return
    any_r = next(iter(got.values()))
    conc = [k for k in runs if k[0] in got][0][2]
    per_round = fnum(any_r["reps"][0].get("msgs"))
    w("")
    w("FEATURE COST (issue 15; authmilter alone, unix socket, concurrency "
      "%d, one message per" % conc)
    w("connection, caches warm: %s fresh daemons, each warmed up on the "
      "corpus twice, then" % {3: "three", 4: "four", 5: "five"}.get(len(got), str(len(got))))
    w("%d alternating rounds of %s messages, each round starting one "
      "daemon later; figures are" % (len(any_r["reps"]), num(per_round,
                                                              "%.0f")))
    w("the median of the rounds; cost = how much slower (msgs/s) or how "
      "much more CPU per")
    w("message the feature makes it, positive = it costs, from the medians; "
      "paired: the median")
    w("of the round-by-round costs, each from two runs of the same round)")
    w("  %-13s %-40s | %6s %6s | %s" % ("variant", "", "msgs/s", "cpu_ms",
                                        "rounds: msgs/s ; cpu_ms"))
    med = {}
    for side, what in COST_VARIANTS:
        r = got.get(side)
        if not r:
            if side != "authmilter-cost-prev":
                w("  %-13s %-40s | (no runs)" % (side[11:], what))
            continue
        rates = [fnum(x.get("msgs_per_s")) for x in r["reps"]]
        cpus = r["cpus"]
        med[side] = (median(rates), median(cpus), rates, cpus, r["others"])
        w("  %-13s %-40s | %6s %6s | %s ; %s" % (
            side[11:], what, num(med[side][0], "%.0f"),
            num(med[side][1], "%.3f"),
            " ".join(num(x, "%.0f") for x in rates),
            " ".join(num(x, "%.3f") for x in cpus)))
    w("")
    w("  %-28s | %8s %8s | %-13s | %8s %8s | %s" % (
        "cost", "msgs/s", "cpu/msg", "goal (msgs/s)", "paired", "",
        "round by round: msgs/s ; cpu"))
    for label, on, off, goal in COST_GOALS:
        if on not in med or off not in med:
            if off != "authmilter-cost-prev":
                w("  %-28s | (not measured)" % label)
            continue
        ron, con, rons, cons, oon = med[on]
        roff, coff, roffs, coffs, ooff = med[off]
        rate_cost = (100.0 * (1 - ron / roff)) if ron and roff else None
        cpu_cost = (100.0 * (con / coff - 1)) if con and coff else None
        pr = [100.0 * (1 - a / b) for a, b in zip(rons, roffs) if a and b]
        pc = [100.0 * (a / b - 1) for a, b in zip(cons, coffs) if a and b]
        verdict = ("-" if rate_cost is None else
                   "met" if rate_cost < goal else "NOT met")
        over = sum(1 for x in pr if x >= goal)
        w("  %-28s | %8s %8s | < %.0f%% %-8s | %8s %8s | %s ; %s%s" % (
            label, pct(rate_cost), pct(cpu_cost), goal, verdict,
            pct(median(pr)), pct(median(pc)),
            " ".join(pct(x) for x in pr), " ".join(pct(x) for x in pc),
            "   (msgs/s over the goal in %d of %d rounds)" % (over, len(pr))
            if over else ""))
        quiet = [i for i in range(min(len(pr), len(pc), len(oon), len(ooff)))
                 if oon[i] is not None and ooff[i] is not None
                 and oon[i] < COST_QUIET and ooff[i] < COST_QUIET]
        if quiet:
            w("  %-28s | %8s %8s | %-13s |   (the paired cost over the %d "
              "quiet rounds)" % (
                  "  in quiet rounds", pct(median([pr[i] for i in quiet])),
                  pct(median([pc[i] for i in quiet])), "", len(quiet)))
    oth = [(side[11:], m[4]) for side, m in med.items()]
    if any(x is not None for _, v in oth for x in v):
        w("  other work on the machine during each run, in CPUs of %d "
          "(busy CPU that was neither" % os.cpu_count())
        w("  authmilter's nor milterload's; a round is quiet when both "
          "runs of a pair had under %.2f):" % COST_QUIET)
        for name, v in oth:
            w("  %-13s %s" % (name, " ".join(num(x, "%.2f") for x in v)))
    base = med.get(COST_GOALS[0][2])
    if base and base[0] and base[1] and len(base[2]) > 1:
        w("  noise: the as-run daemon's rounds spread %.1f%% in msgs/s and "
          "%.1f%% in CPU (max-min over" % (
              100.0 * (max(base[2]) - min(base[2])) / base[0],
              100.0 * (max(base[3]) - min(base[3])) / base[1]))
        w("  the median): a cost well below that is within this run's "
          "noise")
    rpath = os.path.join(work, "reports.tsv")
    rrows = read_tsv(rpath) if os.path.exists(rpath) else []
    for f in rrows:
        if f[0] == "store" and len(f) >= 5:
            w("  reports: the cost-reports daemon stored %s rows for %s "
              "messages (SQLite %s bytes, integrity_check %s);" % tuple(f[1:5]))
            w("  authmilter-report --dry-run over the day made these "
              "reports (rows, messages, gzip bytes):")
        elif f[0] == "report" and len(f) >= 2:
            w("    " + "\t".join(f[1:]))
    spath = os.path.join(work, "scrape.tsv")
    srows = read_tsv(spath) if os.path.exists(spath) else []
    if srows:
        ok = [f for f in srows if len(f) >= 10 and f[3] == "ok"]
        bad = [f for f in srows if len(f) < 10 or f[3] != "ok"]
        tot = [fnum(f[7]) for f in ok if fnum(f[7]) is not None]
        wpath = os.path.join(work, "scrape-windows.tsv")
        wins = [(fnum(f[2]), fnum(f[3])) for f in (read_tsv(wpath)
                if os.path.exists(wpath) else []) if len(f) >= 4]
        inside = sum(1 for f in ok if any(
            a is not None and b is not None and a <= fnum(f[2]) <= b
            for a, b in wins))
        w("  scrapes of /metrics, once a second from the metrics daemon's "
          "warm-up to its stop: %d ok" % len(ok))
        w("  (200 with authmilter_messages_total), %d failed; %d of them "
          "during its %d timed runs;" % (len(bad), inside, len(wins)))
        if ok:
            w("  %s bytes, %s ms each (median); Content-Type %s; "
              "authmilter_messages_total %s .. %s" % (
                  num(median([fnum(f[5]) for f in ok]), "%.0f"),
                  num(median([fnum(f[6]) for f in ok]), "%.2f"),
                  ", ".join(sorted({f[9] for f in ok})),
                  num(min(tot) if tot else None, "%.0f"),
                  num(max(tot) if tot else None, "%.0f")))
    dpath = os.path.join(work, "dns-variants.tsv")
    drows = [f for f in (read_tsv(dpath) if os.path.exists(dpath) else [])
             if f[0] in got]
    if drows:
        w("  DNS per message over each daemon's life (warm-up included; "
          "stats registry, exit line):")
        w("  " + "; ".join(
            "%s dns_q %s, misses %s (%s)" % (
                f[0].replace("authmilter-", ""),
                num(fnum(f[3]) / fnum(f[2]) if fnum(f[3]) is not None
                    and fnum(f[2]) else None, "%.2f"),
                num(fnum(f[4]) / fnum(f[2]) if fnum(f[4]) is not None
                    and fnum(f[2]) else None, "%.3f"), f[4])
            for f in drows))
    v = []
    for side, _ in COST_VARIANTS:
        c = judged.get(side)
        if c and c["rows"]:
            v.append("%s %d/%d" % (side.replace("authmilter-", ""),
                                   c["verdict_ok"], c["rows"]))
    if v:
        w("  verdicts (action+dmarc) against the corpus: " + ", ".join(v))



def per_connection_section(runs, order, w):
    """PER CONNECTION: each side's CPU per message at 1 and 10 messages
    per connection, split as cpu = per_msg + per_conn / k, k the measured
    messages per session (msgs / sessions of each run)"""
    sides = ["authmilter", "peers", "authmilter-base", "authmilter-stack1m",
             "authmilter-cache1g"]
    lines = []
    for side in sides:
        for t, c in order:
            one = runs.get((side, t, c, "1"))
            ten = runs.get((side, t, c, "10"))
            if not one or not ten or one["cpu"] is None or ten["cpu"] is None:
                continue
            k1 = fnum(one["s"].get("msgs")) / max(1.0, fnum(
                one["s"].get("sessions")) or 1.0)
            k10 = fnum(ten["s"].get("msgs")) / max(1.0, fnum(
                ten["s"].get("sessions")) or 1.0)
            if abs(1 / k1 - 1 / k10) < 1e-9:
                continue
            b = (one["cpu"] - ten["cpu"]) / (1 / k1 - 1 / k10)
            a = one["cpu"] - b / k1
            r1 = fnum(one["s"].get("msgs_per_s"))
            r10 = fnum(ten["s"].get("msgs_per_s"))
            lines.append("  %-19s %-4s %5d | %7.3f %7.3f | %5.2f | %8.3f "
                         "%8.3f | %6s %6s %5s" % (
                             side, t, c, one["cpu"], ten["cpu"], k10, b, a,
                             num(r1, "%.0f"), num(r10, "%.0f"),
                             ratio(r1, r10)))
    if not lines:
        return
    w("")
    w("PER CONNECTION (CPU ms per message at m=1 and m=10; k = messages per "
      "session the m=10")
    w("run really had (msgs/sessions: the key changes end some sessions "
      "early); the two runs")
    w("solved for cpu = per_msg + per_conn / k; msgs/s at m=1 and m=10 and "
      "their ratio.")
    w("authmilter-base/-stack1m/-cache1g: fresh daemons, the same binary, "
      "as run by default,")
    w("with ulimit -s 1024 (1 MB thread stacks) and with GLIBC_TUNABLES "
      "stack_cache_size 1 GB;")
    w("their rows: several rounds in turn, CPU over all, msgs/s the "
      "median)")
    w("  %-19s %-4s %5s | %7s %7s | %5s | %8s %8s | %6s %6s %5s" % (
        "side", "sock", "conc", "cpu m1", "cpu m10", "k", "per_conn",
        "per_msg", "msgs/s", "m10", "1/10"))
    for ln in lines:
        w(ln)


PROFILE_CALLS = [
    ("poll (libmilter, per command)", ("__poll", "poll")),
    ("read", ("read", "__libc_read")),
    ("writev/write", ("__GI___writev", "writev", "__libc_write", "write")),
    ("thread create (clone3)", ("clone3",)),
    ("pthread_create", ("pthread_create@GLIBC_2.2.5", "pthread_create")),
    ("munmap (stacks)", ("__munmap", "munmap")),
    ("mmap", ("__mmap", "mmap64", "mmap")),
    ("mprotect (guard)", ("__mprotect", "mprotect")),
    ("madvise (thread exit)", ("__madvise", "madvise")),
    ("accept", ("accept", "__libc_accept", "accept4")),
    ("close", ("__close", "close", "__libc_close")),
    ("malloc+free", ("malloc", "free", "_int_free", "_int_malloc",
                     "cfree@GLIBC_2.2.5", "__libc_free")),
    ("scheduler (schedule)", ("schedule",)),
]


def profile_calls_section(work, w):
    """PROFILE BY CALL: % of samples under each call (callees included),
    from perf-SIDE-children-mM.txt, one and ten messages per connection"""
    cols = []
    for side in ("authmilter", "peers"):
        for m in ("1", "10"):
            path = os.path.join(work, "perf-%s-children-m%s.txt" % (side, m))
            if not os.path.exists(path):
                continue
            pct = {}
            for ln in open(path).read().splitlines():
                f = ln.split()
                if len(f) >= 4 and f[0].endswith("%"):
                    sym = f[-1]
                    pct.setdefault(sym, fnum(f[0].rstrip("%")))
            cols.append(("%s m=%s" % (side, m), pct))
    if not cols:
        return
    w("")
    w("PROFILE BY CALL (perf, concurrency 32, unix; % of the side's samples "
      "under the call,")
    w("callees included; the largest entry of the names listed; an "
      "inlined or unlisted call shows 0)")
    w("  %-30s %s" % ("", " ".join("%15s" % c for c, _ in cols)))
    for label, names in PROFILE_CALLS:
        w("  %-30s %s" % (label, " ".join(
            "%14.1f%%" % max([pct.get(n) or 0.0 for n in names])
            for _, pct in cols)))


def tcp_tail_section(work, runs, nextra, w):
    """TCP TAIL: inet, one connection: latency of m=1, m=10 and m=1 with
    TCP_NODELAY on milterload's side; the share of messages over 20 ms
    and the messages that are"""
    keys = [(side, m) for side in ("authmilter", "peers")
            for m in ("1", "10", "1+nodelay", "10+nodelay", "1+quickack",
                      "10+quickack")
            if (side, "inet", 1, m) in runs]
    if not keys:
        return
    w("")
    w("TCP TAIL (inet, one connection; nodelay: TCP_NODELAY on milterload's "
      "sockets, which")
    w("Postfix does not set; quickack: Nagle on again, delayed ACKs off on "
      "both ends (the")
    w("namespace's route to 127.0.0.0/8 with the quickack metric); slow = "
      "messages over 20 ms,")
    w("with the corpus messages most often slow)")
    w("  %-10s %-11s | %7s %7s %7s %8s | %6s | %s" % (
        "side", "m", "msgs/s", "p50ms", "p99ms", "max_ms", "slow", "which"))
    for side, m in keys:
        r = runs[(side, "inet", 1, m)]
        s = r["s"]
        slow = Counter()
        n = 0
        path = os.path.join(work, r.get("results") or "")
        if r.get("results") and os.path.exists(path):
            for f in read_tsv(path):
                if f[0] == "id" or len(f) < 6 + nextra:
                    continue
                ms = fnum(f[len(f) - nextra - 1])
                if ms is None:
                    continue
                n += 1
                if ms > 20:
                    slow[f[0].split("/")[-1].replace(".eml", "")] += 1
        tot = sum(slow.values())
        w("  %-10s %-11s | %7s %7s %7s %8s | %5.1f%% | %s" % (
            side, m, num(fnum(s.get("msgs_per_s")), "%.0f"),
            num(fnum(s.get("p50_ms")), "%.2f"),
            num(fnum(s.get("p99_ms")), "%.2f"),
            num(fnum(s.get("max_ms")), "%.1f"),
            100.0 * tot / n if n else 0.0,
            " ".join("%s x%d" % kv for kv in slow.most_common(4))))


def main_table(runs, rows, w):
    """MILTER PROTOCOL: both sides' rows side by side, ratios included"""
    w("MILTER PROTOCOL (bench/milterload; msgs/s higher is better, the rest "
      "lower; ratio = authmilter/peers;")
    w("m = messages per milter connection: 1 as MX traffic arrives, 10 with "
      "milterload --group)")
    w("")
    hdr = ("%-5s %4s %2s | %9s %7s %7s %7s | %9s %7s %7s %7s | %6s %6s %6s "
           "%6s" % ("sock", "conc", "m", "msgs/s", "p50ms", "p99ms",
                    "cpu_ms", "msgs/s", "p50ms", "p99ms", "cpu_ms",
                    "msgs/s", "p50", "p99", "cpu"))
    w("%-13s | %-36s | %-36s | %s" % ("", "authmilter (treewalk)", "peers: "
                                       "opendkim,opendmarc",
                                       "authmilter/peers"))
    w(hdr)
    w("-" * len(hdr))
    for transport, conc, mpc in rows:
        a = runs.get(("authmilter", transport, conc, mpc))
        p = runs.get(("peers", transport, conc, mpc))

        def g(r, k):
            return fnum(r["s"].get(k)) if r else None
        am = [g(a, "msgs_per_s"), g(a, "p50_ms"), g(a, "p99_ms"),
              a["cpu"] if a else None]
        pm = [g(p, "msgs_per_s"), g(p, "p50_ms"), g(p, "p99_ms"),
              p["cpu"] if p else None]
        w("%-5s %4d %2s | %9s %7s %7s %7s | %9s %7s %7s %7s | %6s %6s %6s "
          "%6s" % (transport, conc, mpc, num(am[0], "%.0f"), num(am[1], "%.2f"),
             num(am[2], "%.2f"), num(am[3], "%.3f"), num(pm[0], "%.0f"),
             num(pm[1], "%.2f"), num(pm[2], "%.2f"), num(pm[3], "%.3f"),
             ratio(am[0], pm[0]), ratio(am[1], pm[1]), ratio(am[2], pm[2]),
             ratio(am[3], pm[3])))
    w("")


def session_table(runs, rows, w):
    """SESSION LATENCY: connect() to the first verdict, m=1 rows (a milter
    that leaves connections in its listen queue hides that wait from the
    per-message latency above, which starts at MAIL)"""
    have = [(t, c, m) for t, c, m in rows if m == "1" and any(
        (runs.get((side, t, c, m)) or {}).get("s", {}).get("sess_p99_ms")
        for side in ("authmilter", "peers"))]
    if not have:
        return
    w("SESSION LATENCY (m=1: from connect() to the message's verdict, the "
      "wait for accept(), negotiation, CONNECT and HELO included)")
    hdr = "%-5s %4s | %9s %9s | %9s %9s" % (
        "sock", "conc", "am p50ms", "am p99ms", "peer p50", "peer p99")
    w(hdr)
    w("-" * len(hdr))
    for t, c, m in have:
        def g(side, k):
            r = runs.get((side, t, c, m))
            return fnum(r["s"].get(k)) if r else None
        w("%-5s %4d | %9s %9s | %9s %9s" % (
            t, c, num(g("authmilter", "sess_p50_ms"), "%.2f"),
            num(g("authmilter", "sess_p99_ms"), "%.2f"),
            num(g("peers", "sess_p50_ms"), "%.2f"),
            num(g("peers", "sess_p99_ms"), "%.2f")))
    w("")


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    work = argv[0]
    runs_path = os.path.join(work, "runs.tsv")
    if not os.path.exists(runs_path):
        print("report: no %s" % runs_path)
        return 1
    corpus = read_tsv(os.path.join(work, "corpus", "corpus.tsv"))
    cols = corpus[0]
    exp_of = {r[0]: dict(zip(cols, r)) for r in corpus[1:]}
    nextra = len(cols) - cols.index("auth_user") - 1
    runs = {}
    order = []
    judged = defaultdict(Counter)
    wrong = defaultdict(Counter)
    for f in read_tsv(runs_path):
        side, transport, conc, mpc, ticks, hz, results, summary = f[:8]
        s = parse_summary(summary)
        msgs = fnum(s.get("msgs"))
        secs = fnum(s.get("secs"))
        # other work on the machine during the run, in CPUs (runs.tsv's
        # 11th column: busy ticks that were neither the daemons' nor
        # milterload's)
        other = (max(0.0, float(f[10])) / float(hz) / secs
                 if len(f) > 10 and fnum(f[10]) is not None and secs
                 else None)
        cpu = client = None
        each = []
        if msgs:
            cpu = float(ticks) * 1000.0 / float(hz) / msgs
            if len(f) > 8 and fnum(f[8]) is not None:
                client = float(f[8]) * 1000.0 / msgs
            if len(f) > 9 and f[9]:
                each = [int(t) * 1000.0 / float(hz) / msgs
                        for t in f[9].split(",")]
        key = (transport, int(conc))
        if key not in order:
            order.append(key)
        rk = (side,) + key + (mpc,)
        if rk in runs and msgs and runs[rk]["cpu"] is not None:
            # rounds of the same run (the per-connection experiments):
            # CPU and sessions summed, msgs/s and latencies the median
            old = runs[rk]
            old["reps"].append(s)
            old["cpus"].append(cpu)
            old["others"].append(other)
            old["ms_total"] += cpu * msgs
            tot = sum(fnum(x.get("msgs")) or 0 for x in old["reps"])
            old["cpu"] = old["ms_total"] / tot
            merged = dict(s)
            for k in ("msgs", "sessions"):
                merged[k] = "%d" % sum(fnum(x.get(k)) or 0
                                       for x in old["reps"])
            for k in ("msgs_per_s", "p50_ms", "p99_ms"):
                v = sorted(fnum(x.get(k)) or 0 for x in old["reps"])
                merged[k] = "%.3f" % v[len(v) // 2]
            merged["max_ms"] = "%.3f" % max(fnum(x.get("max_ms")) or 0
                                            for x in old["reps"])
            old["s"] = merged
        else:
            runs[rk] = dict(s=s, cpu=cpu, mpc=mpc, client=client,
                            each=each, results=results, reps=[s],
                            cpus=[cpu], others=[other],
                            ms_total=(cpu or 0) * (msgs or 0))
        rpath = os.path.join(work, results)
        if not results or not os.path.exists(rpath):
            continue
        for row in load_results(rpath, nextra):
            exp = exp_of.get(row["id"])
            if exp is None:
                judged[side]["unknown id"] += 1
                continue
            vok, aok, got, want = judge(side, row, exp)
            judged[side]["rows"] += 1
            judged[side]["verdict_ok"] += vok
            judged[side]["all_ok"] += aok
            if not aok:
                wrong[side][(exp["case"], got, want)] += 1
    out = []
    w = out.append
    rows = [(t, c, m) for t, c in order for m in ("1", "10")
            if ("authmilter", t, c, m) in runs or ("peers", t, c, m) in runs]
    if rows:
        main_table(runs, rows, w)
        session_table(runs, rows, w)
    w("runs (messages, errors, verdict counts):")
    sides = ["authmilter", "authmilter-psl", "peers"]
    sides += sorted({k[0] for k in runs} - set(sides))
    for side in sides:
        for key in sorted((k for k in runs if k[0] == side),
                          key=lambda k: (order.index(k[1:3]), k[3])):
            r = runs[key]
            transport, conc = key[1], key[2]
            s = r["s"]
            w("  %-14s %-5s c=%-4d m=%-9s msgs=%s sessions=%s secs=%s max_ms=%s "
              "client_cpu_ms=%s accept=%s reject=%s quarantine=%s "
              "tempfail=%s errors=%s"
              % (side, transport, conc, r["mpc"], s.get("msgs"),
                 s.get("sessions"), s.get("secs"), s.get("max_ms"),
                 num(r["client"], "%.3f"), s.get("accept"),
                 s.get("reject"), s.get("quarantine"), s.get("tempfail"),
                 s.get("errors")))
    rss_path = os.path.join(work, "rss.tsv")
    rss = defaultdict(dict)
    if os.path.exists(rss_path):
        for side, transport, daemon, kb in read_tsv(rss_path):
            rss[(side, transport)][daemon] = int(kb)
    if ("authmilter", "unix") in rss or ("peers", "unix") in rss:
        w("")
        w("peak RSS (VmHWM, over every run of the socket type):")
        for transport in sorted({t for _, t in rss}):
            a = rss.get(("authmilter", transport), {})
            p = rss.get(("peers", transport), {})
            if not a and not p:
                continue
            at = sum(a.values()) / 1024.0
            pt = sum(p.values()) / 1024.0
            w("  %-5s authmilter %.1f MB | peers %s = %.1f MB | ratio %s"
              % (transport, at, " + ".join("%s %.1f MB" % (d, kb / 1024.0)
                                            for d, kb in sorted(p.items())),
                 pt, ratio(at, pt)))
    growth_section(work, w)
    per_connection_section(runs, order, w)
    tcp_tail_section(work, runs, nextra, w)
    discovery_section(work, runs, order, w)
    feature_cost_section(work, runs, judged, w)
    w("")
    w("VERDICTS against the corpus expectations (every message of every "
      "run):")
    for side in ("authmilter", "authmilter-psl", "peers"):
        c = judged[side]
        if not c["rows"]:
            if side != "authmilter-psl" and any(k[0] == side for k in runs):
                w("  %-14s no per-message results" % side)
            continue
        w("  %-14s verdicts (action+dmarc) %d/%d = %.1f%%   all results "
          "(spf+dkim+dmarc+action) %d/%d = %.1f%%"
          % (side, c["verdict_ok"], c["rows"],
             100.0 * c["verdict_ok"] / c["rows"], c["all_ok"], c["rows"],
             100.0 * c["all_ok"] / c["rows"]))
        for (case, got, want), n in sorted(wrong[side].items()):
            w("    %-18s x%-5d got spf=%s dkim=%s dmarc=%s action=%s; "
              "want %s/%s/%s/%s" % ((case, n) + got + want))
    w("")
    w("WHERE THE CPU GOES (ms per message, concurrency 8, unix sockets, one "
      "message per connection):")
    a = runs.get(("authmilter", "unix", 8, "1"))
    p = runs.get(("peers", "unix", 8, "1"))
    a10 = runs.get(("authmilter", "unix", 8, "10"))
    if a:
        w("  authmilter %s   (milterload, the MTA side, %s; at 10 messages "
          "per connection %s)" % (num(a["cpu"], "%.3f"),
                                  num(a["client"], "%.3f"),
                                  num(a10["cpu"] if a10 else None, "%.3f")))
    if p:
        w("  peers      %s = %s   (milterload, the MTA side, %s)"
          % (num(p["cpu"], "%.3f"),
             " + ".join("%s %.3f" % (n, c) for n, c in
                        zip(("opendkim", "opendmarc"), p["each"])),
             num(p["client"], "%.3f")))
    conv = None
    conv_path = os.path.join(work, "conv.tsv")
    if os.path.exists(conv_path):
        rows = read_tsv(conv_path)
        if rows and fnum(rows[0][0]) and float(rows[0][0]) > 0:
            n, ticks, hz = rows[0][:3]
            conv = float(ticks) / float(hz) * 1000 / float(n)
            w("  authmilter with SPF, DKIM, DMARC and iprev off %.3f   (libmilter's "
              "conversation and our callbacks" % conv)
            w("  collecting the message: what any libmilter milter pays)")
            for row in rows[1:]:
                if len(row) > 3 and fnum(row[0]):
                    w("  the same at %s messages per connection: %.3f"
                      % (row[3], float(row[1]) / float(row[2]) * 1000
                         / float(row[0])))
            if a and a["cpu"]:
                w("  authmilter's checks alone: %.3f - %.3f = %.3f"
                  % (a["cpu"], conv, a["cpu"] - conv))
    floor = crypto_floor(work, corpus)
    if floor is not None:
        w("  crypto floor (openssl speed: one signature verify with the "
          "message's key + SHA-256 of")
        w("  the whole message for signed ones, 0 for unsigned, averaged "
          "over the corpus): %.3f ms" % floor)
        if a and a["cpu"]:
            w("  authmilter / floor = %.1f" % (a["cpu"] / floor))
            if conv is not None:
                w("  libmilter's conversation / floor = %.1f; authmilter's "
                  "checks / floor = %.1f" % (conv / floor,
                                             (a["cpu"] - conv) / floor))
        if p and p["cpu"]:
            w("  peers / floor = %.1f" % (p["cpu"] / floor))
    profile_calls_section(work, w)
    for side in ("authmilter", "peers"):
        pp = os.path.join(work, "perf-%s.txt" % side)
        if os.path.exists(pp):
            w("")
            w("PROFILE %s (perf, concurrency 32, one message per connection, "
              "unix; %% of samples, "
              "command, object, symbol):" % side)
            with open(pp) as f:
                for ln in f.read().splitlines()[:16]:
                    w("  " + " ".join(ln.split()))
    e2e_path = os.path.join(work, "e2e.tsv")
    if os.path.exists(e2e_path):
        w("")
        w("END TO END (smtp-source -> Postfix smtpd with smtpd_milters -> "
          "smtp-sink; msgs/s accepted)")
        rows = read_tsv(e2e_path)
        bare = None
        for cfg, transport, n, secs, status in rows:
            rate = float(n) / float(secs) if fnum(secs) else None
            if cfg == "none":
                bare = rate
        for cfg, transport, n, secs, status in rows:
            rate = float(n) / float(secs) if fnum(secs) else None
            w("  %-22s %6s msgs in %7s s = %7s msgs/s  %5s of bare "
              "Postfix  %s" % (cfg + ("" if cfg == "none" else
                                      " (" + transport + ")"),
                               n, secs, num(rate, "%.0f"),
                               "-" if not bare or rate is None
                               else "%.0f%%" % (100 * rate / bare),
                               "" if status == "0" else "[exit %s]" % status))
        if any(row[0] == "authmilter-off" for row in rows):
            w("  (authmilter-off: SPF, DKIM and DMARC switched off, the cost "
              "of the milter conversation itself)")
        r = {(c, t): float(n) / float(s) for c, t, n, s, _ in rows
             if fnum(s)}
        for t in ("unix", "inet"):
            if ("authmilter", t) in r and ("peers", t) in r:
                w("  authmilter/peers (%s): %.2f" % (
                    t, r[("authmilter", t)] / r[("peers", t)]))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
