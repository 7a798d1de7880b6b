#!/usr/bin/python3
"""tally.py - bench/cold/run's sampler and its table.

Usage: tally.py sample PID OUT.tsv [--every 0.1] [--max-s 900]
       tally.py report WORK

sample: every 0.1 s, one line of the process's /proc/PID/status and
  /proc/PID/stat to OUT.tsv: t_s (since the start), VmRSS and VmHWM in kB,
  Threads, utime+stime in clock ticks. Ends when the process is gone, on
  SIGTERM, or after --max-s.

report: reads WORK/runs.tsv (one line per binary, written by run; the
  columns are in RUNS_COLS below), each run's milterload results (every
  message judged: right = action accept with spf=pass for smtp.mailfrom,
  dkim=pass and dmarc=pass in the Authentication-Results header; wrong =
  any other answer; error = no answer, a time-out included) and samples,
  and prints the table, also written to WORK/report.txt.
"""
import json
import os
import signal
import sys
import textwrap
import time

RUNS_COLS = ["label", "bin", "socket", "conns", "delay_ms", "limit_s",
             "settle_s", "budget_ms", "timeout_ms", "results", "samples", "dnsstats",
             "summary", "wall_s", "hz",
             "ticks0", "ticks1", "rss0_kb", "hwm_kb", "rss_after_kb",
             "client_cpu_s", "dnsd_ticks", "machine_ticks", "rc", "cut",
             "commit", "date"]


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        st = f.read()
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    v = {}
    for ln in st.splitlines():
        k, _, rest = ln.partition(":")
        if k in ("VmRSS", "VmHWM", "Threads"):
            v[k] = int(rest.split()[0])
    f = stat[stat.rindex(")") + 2:].split()
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return v.get("VmRSS", 0), v.get("VmHWM", 0), v.get("Threads", 0), \
        int(f[11]) + int(f[12]), fds


def sample(argv):
    pid, out = int(argv[0]), argv[1]
    every, max_s = 0.1, 900.0
    i = 2
    while i < len(argv):
        if argv[i] == "--every":
            every = float(argv[i + 1])
        elif argv[i] == "--max-s":
            max_s = float(argv[i + 1])
        i += 2
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    t0 = time.monotonic()
    with open(out, "w") as f:
        f.write("t_s\trss_kb\thwm_kb\tthreads\tticks\tfds\n")
        while not stop and time.monotonic() - t0 < max_s:
            try:
                rss, hwm, thr, ticks, fds = proc_sample(pid)
            except (OSError, ValueError, IndexError):
                break
            f.write("%.2f\t%d\t%d\t%d\t%d\t%d\n" % (
                time.monotonic() - t0, rss, hwm, thr, ticks, fds))
            f.flush()
            time.sleep(every)


def read_tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    if not lines:
        return []
    head = lines[0].split("\t")
    return [dict(zip(head, ln.split("\t"))) for ln in lines[1:] if ln]


def ar_results(ar):
    """[(method, result, props)] of every Authentication-Results value
    (milterload joins several with " | ")"""
    out = []
    for value in ar.split(" | "):
        parts = value.split(";")[1:]
        for p in parts:
            toks = p.split()
            if not toks or "=" not in toks[0]:
                continue
            m, _, r = toks[0].partition("=")
            out.append((m.lower(), r.lower(), " ".join(toks[1:])))
    return out


def judge(row):
    """right, wrong or error"""
    v = row.get("verdict", "")
    if v in ("error", "-", ""):
        return "error"
    if v != "accept":
        return "wrong"
    got = ar_results(row.get("auth_results", ""))
    spf = any(m == "spf" and r == "pass" and "smtp.mailfrom" in p
              for m, r, p in got)
    dk = any(m == "dkim" and r == "pass" for m, r, p in got)
    dm = any(m == "dmarc" and r == "pass" for m, r, p in got)
    return "right" if spf and dk and dm else "wrong"


def summary_kv(line):
    kv = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        kv[k] = v
    return kv


def report(work):
    rows = read_tsv(os.path.join(work, "runs.tsv"))
    out = []
    detail = []
    head = ("build", "msgs", "right", "wrong", "err", "wall_s", "msgs/s",
            "p50_ms", "p99_ms", "sess_p99", "rss0_MB", "peak_rss_MB", "peak_thr",
            "peak_fds",
            "rss_after_MB", "cpu_ms/msg", "dns_q/msg", "other_cpu")
    table = []
    for r in rows:
        res = read_tsv(os.path.join(work, r["results"])) \
            if os.path.exists(os.path.join(work, r["results"])) else []
        tally = {"right": 0, "wrong": 0, "error": 0}
        wrong_ex = {}
        for row in res:
            j = judge(row)
            tally[j] += 1
            if j != "right" and len(wrong_ex) < 3:
                wrong_ex[row.get("id")] = (row.get("verdict"),
                                           row.get("auth_results", "")[:200])
        kv = summary_kv(r["summary"])
        msgs = int(kv.get("msgs", "0") or 0)
        samples = read_tsv(os.path.join(work, r["samples"])) \
            if os.path.exists(os.path.join(work, r["samples"])) else []
        peak_thr = max((int(s["threads"]) for s in samples), default=0)
        peak_fds = max((int(s.get("fds", 0)) for s in samples), default=0)
        hwm = max(int(r["hwm_kb"] or 0),
                  max((int(s["hwm_kb"]) for s in samples), default=0))
        hz = int(r["hz"])
        ticks = int(r["ticks1"]) - int(r["ticks0"])
        wall = float(r["wall_s"])
        done = tally["right"] + tally["wrong"]
        cpu_ms = ticks * 1000.0 / hz / done if done else 0.0
        try:
            dns = json.load(open(os.path.join(work, r["dnsstats"])))
        except (OSError, ValueError):
            dns = {}
        dq = dns.get("queries", 0)
        # other work on the machine during the run: busy CPU of the whole
        # machine that was neither the daemon's, milterload's nor dnsd's
        other = (int(r["machine_ticks"]) - ticks - int(r["dnsd_ticks"]) -
                 float(r["client_cpu_s"]) * hz) / hz / wall if wall else 0
        mb = lambda kb: "%.1f" % (kb / 1024.0)
        cut = r.get("cut") == "1"
        table.append((r["label"] + (" (cut)" if cut else ""), str(msgs), str(tally["right"]),
                      str(tally["wrong"]), str(tally["error"]),
                      "%.1f" % wall,
                      "%.1f" % (done / wall if wall else 0),
                      "%.0f" % float(kv.get("p50_ms", 0)),
                      "%.0f" % float(kv.get("p99_ms", 0)),
                      "%.0f" % float(kv["sess_p99_ms"])
                      if "sess_p99_ms" in kv else "-",
                      mb(int(r["rss0_kb"] or 0)), mb(hwm), str(peak_thr),
                      str(peak_fds),
                      "-" if cut else mb(int(r["rss_after_kb"] or 0)),
                      "%.2f" % cpu_ms,
                      "%.1f" % (dq / len(res) if res else 0),
                      "%.2f" % max(other, 0)))
        dnsline = " ".join("%s=%s" % (k, dns[k]) for k in (
            "queries", "udp", "tcp", "tc", "distinct", "again_while_waiting",
            "max_waiting", "max_late_ms", "udp_rcvbuf_errors",
            "udp_in_errors", "by_type") if k in dns)
        detail.append("%s: %s\n  bin=%s (commit %s, run %s)\n  dnsd: %s\n"
                      "  milterload exit=%s%s"
                      % (r["label"], r["summary"], r["bin"],
                         r.get("commit", "-"), r.get("date", "-"), dnsline,
                         r["rc"],
                         "".join("\n  not right: %s %s %s" % (i, v, a)
                                 for i, (v, a) in wrong_ex.items())))
    if rows:
        r0 = rows[0]
        out.append("COLD DNS: %s connections at once, one message each, "
                   "every answer %s ms late, %s socket, limit %s s; "
                   "policy.dns_budget_ms=%s dns.timeout_ms=%s"
                   % (r0["conns"], r0["delay_ms"], r0["socket"],
                      r0["limit_s"], r0["budget_ms"], r0["timeout_ms"]))
    widths = [max(len(h), *(len(t[i]) for t in table)) if table else len(h)
              for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w)
                                  for i, (c, w) in
                                  enumerate(zip(cells, widths)))
    out.append(fmt(head))
    out.extend(fmt(t) for t in table)
    out.append("")
    settle = rows[0].get("settle_s", "2") if rows else "2"
    legend = (
        "msgs: milterload's count; right: accept with spf=pass "
        "(smtp.mailfrom), dkim=pass and dmarc=pass; err: no verdict; "
        "msgs/s: (right+wrong)/wall_s; p50/p99: MAIL to verdict of the "
        "answered ones (milterload); sess_p99: from connect() to the "
        "verdict (milterload's sess_p99_ms, the wait to be accepted "
        "included; - from a milterload without it); rss0: VmRSS before the run; "
        "peak_rss: VmHWM; peak_thr, peak_fds: most Threads and open "
        "descriptors in the 100 ms samples (a descriptor per milter "
        "connection and per DNS query on the wire); rss_after: VmRSS %s s "
        "after the run; cpu_ms/msg: the daemon's utime+stime during the "
        "run per answered message; dns_q/msg: queries the DNS server got "
        "per message (5 are needed: DKIM key, SPF and its include, SPF of "
        "the HELO, DMARC; the rest are libunbound's retransmissions); "
        "other_cpu: cores busy with other work on the machine during the "
        "run; (cut): still busy at the limit, the daemon was killed then "
        "(its messages without a verdict are err, wall_s is the limit)"
        % settle)
    out.append(textwrap.fill(legend, 78))
    out.extend(detail)
    text = "\n".join(out) + "\n"
    with open(os.path.join(work, "report.txt"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "sample":
        sample(sys.argv[2:])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
