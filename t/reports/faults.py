#!/usr/bin/env python3
"""faults.py - the report store failing under the milter (issue 14).

Started by t/reports-faults.sh (t/reports.sh faults) inside private
network, mount and pid namespaces (only lo). NSD serves the sender
domains of common.py; each part starts its own authmilter with reports =
{ } and a metrics endpoint and talks the milter protocol to it
(t/milterclient.py). The promise under test (store.h): mail is never
delayed by the store; what cannot be stored is counted.

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

down-sqlite      store "sqlite:" in a directory that does not exist,
                 reports.queue_max 16, SEQ messages: each gets its verdict
                 and Authentication-Results within FAST_S; the open failed
                 (reports_store_errors_total > 0), 16 records wait in the
                 queue and the rest are dropped at once
                 (reports_dropped_total); SIGTERM exits 0 within STOP_S
                 and its exit line counts every record dropped, none
                 written (the writer holds records while the store cannot
                 be opened and drops what is left at the stop).
down-pg          the same with a postgresql:// URI whose server is stopped
                 (t/pgtmp.sh: pg_start, then pg_stop).
pg-unanswered    a PostgreSQL "server" that accepts the TCP connection and
                 never answers (queue_max as default): mail flows, and
                 SIGTERM still exits 0 within STOP_S, every record
                 dropped.
disk-full        SQLite on a 256 KB tmpfs (mounted in the test's mount
                 namespace): after some records are written the disk is
                 filled; DISTINCT messages, each from its own address (new
                 rows), still get their verdicts within FAST_S; the store
                 fails (reports_store_errors_total > 0); SIGTERM exits 0
                 and its exit line has written + dropped = every record,
                 some dropped; with the filler removed the file passes
                 PRAGMA integrity_check and the dry run counts exactly
                 what was written.
kill-9           SQLite under load from LOAD_THREADS connections, the
                 daemon killed with SIGKILL after WRITTEN_BEFORE_KILL
                 records were written: PRAGMA integrity_check says ok and
                 authmilter-report --dry-run finds at least the records
                 the daemon had counted as written.
kill-9-reopen    a new daemon on that file writes again: five more
                 messages, SIGTERM, and the dry run counts five more.
reporter-while-writing
                 SQLite under load: meanwhile authmilter-report runs
                 eight times on the same file (dry runs, --prune, a real
                 run per domain through a fake reports.sendmail, each
                 marking its report sent): every run exits 0, one message
                 per domain, no message slower than LOAD_S, and the daemon
                 writes every record with no store error (no "database is
                 locked").
sighup           SQLite under load, six SIGHUPs, every other one with
                 reports.store changed in the file (start only: logged,
                 the running store kept): the daemon lives, writes every
                 record into the first file, never opens the other, and
                 the dry run counts every message.
pg-restart       the cluster of down-pg started again (pg_ctl start, as
                 pg_start does), then under load stopped (pg_stop) and
                 started again: no message slower than
                 LOAD_S, messages answered while the database was down,
                 reports_written_total rises again after the restart, and
                 in the end the dry run counts reports_written_total (or
                 up to reports_dropped_total more: a COMMIT that went
                 through as the server shut down, its answer lost, is
                 counted dropped).
pg-frozen        the database frozen (SIGSTOP to the server and its
                 backends) while the daemon is connected: mail still gets
                 its verdicts within FAST_S, and SIGTERM exits 0 within
                 STOP_S (the writer may be waiting on the server forever),
                 every record written or dropped by the exit line.

Prints "reports-faults: N passed, N failed". Exit status 0 when all pass,
1 otherwise, 99 when the rig could not be set up. REPORTS_KEEP=1 keeps
the temporary directory.
"""

import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C                      # noqa: E402
from common import Fail, rig            # noqa: E402

FAST_S = 1.0             # one message alone, the store broken
LOAD_S = 2.0             # one message of LOAD_THREADS at once
STOP_S = 15              # SIGTERM to exit
SEQ = 20                 # messages of the down-* parts
QMAX = 16                # their reports.queue_max (the least allowed)
DISTINCT = 150           # disk-full: messages from as many addresses
LOAD_THREADS = 4
WRITTEN_BEFORE_KILL = 60
PLAN = []                # (client, domain) of the domains with rua=
for _d in sorted(C.DOMAINS):
    if C.rua_of(_d):
        _n = sorted(C.DOMAINS).index(_d) + 1
        PLAN += [(C.DOMAINS[_d][0], _d), ("203.0.113.%d" % (60 + _n), _d),
                 ("2001:db8::%x" % (0x60 + _n), _d)]


class Run:
    def __init__(self):
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="am-reports-faults-")
        os.chmod(self.tmp, 0o755)       # PostgreSQL's user walks it
        self.procs = []
        self.daemons = []
        self.loads = []
        self.mounts = []
        self.pgdir = None
        self.pg_up = False
        self.pg_stopped = False     # SIGSTOPped by pg-frozen
        self.blackhole = None
        self.checks = C.Checks()
        self.day = C.utc_day()
        self.n = 0

    # -- helpers
    def daemon(self, name, store, extra=""):
        p = rig.free_ports(2)
        conf = C.daemon_conf("inet:%d@127.0.0.1" % p[0], self.ports["dns"],
                             store, metrics_port=p[1], extra=extra)
        d = C.Daemon(self.tmp, name, conf, p[1])
        self.daemons.append(d)
        d.start(self.procs, lambda: rig.tcp_accepts(p[0]))
        d.spec = "inet:%d@127.0.0.1" % p[0]
        return d

    def send_seq(self, d, plan):
        """each of plan, one after the other; the results as Load keeps
        them"""
        res = []
        for ip, dom in plan:
            t1 = time.monotonic()
            try:
                r, dt = C.milter_send(d.spec, ip, dom)
                why = C.check_verdict(r, ip, dom)
            except Exception as e:
                dt = time.monotonic() - t1
                why = "%s: %s" % (type(e).__name__, e)
            res.append((t1, dt, ip, dom, why))
        return res

    def stop_timed(self, d, sig=None):
        t1 = time.monotonic()
        rc = d.stop(timeout=STOP_S) if sig is None else d.stop(sig, STOP_S)
        return rc, time.monotonic() - t1

    def down(self, name, store):
        """the down-* parts: mail flowing, the records held in the queue
        (queue_max 16: the ones past it dropped at once), all of them
        dropped at the stop"""
        d = self.daemon(name, store, "\tqueue_max = %d;\n" % QMAX)
        plan = [PLAN[i % len(PLAN)] for i in range(SEQ)]
        res = self.send_seq(d, plan)
        C.log("     (%s)" % C.latency(res))
        why = []
        try:
            C.judge_load(res, FAST_S)
        except Fail as e:
            why.append(str(e))
        s = d.wait_stats(lambda s: s.get("store_errors", 0) >= 1 and
                         s.get("records", 0) + s.get("dropped", 0) >= SEQ,
                         timeout=8)
        C.need_stats(s)
        want = dict(records=QMAX, written=0, dropped=SEQ - QMAX,
                    queue_length=QMAX)
        if any(s[k] != v for k, v in want.items()) or not s["store_errors"]:
            why.append("counters %s after %d messages, want %s and "
                       "store_errors > 0" % (s, SEQ, want))
        why += self.stop_and_count(d, {"reports_written_total": 0,
                                       "reports_dropped_total": SEQ}, SEQ)
        if why:
            raise Fail("; ".join(why))

    def stop_and_count(self, d, want, submitted):
        """SIGTERM d: exit 0 within STOP_S, the exit line's counters as in
        want, and every one of the submitted records written or dropped;
        the problems"""
        why = []
        try:
            rc, secs = self.stop_timed(d)
        except Fail as e:
            return [str(e)]
        ex = {k: v for k, v in d.exit_stats().items() if "reports" in k}
        C.log("     (SIGTERM: exit %s in %.1f s; exit line %s)"
              % (rc, secs, ex))
        if rc != 0:
            why.append("SIGTERM: exit %s" % rc)
        for k, v in want.items():
            if ex.get(k) != v:
                why.append("exit line %s=%s, want %d" % (k, ex.get(k), v))
        w, dr = (ex.get("reports_written_total"),
                 ex.get("reports_dropped_total"))
        if w is None or dr is None or w + dr != submitted:
            why.append("exit line written %s + dropped %s, want %d in all"
                       % (w, dr, submitted))
        return why

    # -- the parts
    def down_sqlite(self):
        self.down("down-sqlite", "sqlite:" + os.path.join(
            self.tmp, "no-such-dir", "reports.db"))

    def down_pg(self):
        self.pgdir = os.path.join(self.tmp, "pg")
        self.uri = C.pg_start(self.pgdir)
        self.pg_up = True
        C.pg_stop(self.pgdir)
        self.pg_up = False
        self.down("down-pg", self.uri)

    def pg_unanswered(self):
        port = rig.free_ports(1)[0]
        self.blackhole = rig.Blackhole(port)
        d = self.daemon("pg-unanswered",
                        "postgresql://am@127.0.0.1:%d/reports" % port)
        plan = [PLAN[i % len(PLAN)] for i in range(SEQ)]
        res = self.send_seq(d, plan)
        C.log("     (%s)" % C.latency(res))
        why = []
        try:
            C.judge_load(res, FAST_S)
        except Fail as e:
            why.append(str(e))
        s = d.stats()
        C.need_stats(s)
        if s["records"] != SEQ or s["written"]:
            why.append("counters %s, want records %d, written 0"
                       % (s, SEQ))
        why += self.stop_and_count(d, {"reports_written_total": 0,
                                       "reports_dropped_total": SEQ}, SEQ)
        if why:
            raise Fail("; ".join(why))

    def disk_full(self):
        mnt = os.path.join(self.tmp, "full")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k",
                            "tmpfs", mnt], capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail("mount -t tmpfs -o size=256k: %s" % r.stderr.strip())
        self.mounts.append(mnt)
        db = os.path.join(mnt, "reports.db")
        d = self.daemon("disk-full", "sqlite:" + db)
        first = self.send_seq(d, PLAN[:5])
        s0 = d.wait_stats(lambda s: s.get("written", 0) >= 5)
        C.need_stats(s0)
        if s0["written"] < 5:
            raise Fail("before the disk was filled: %s, want 5 written"
                       % s0)
        filler = os.path.join(mnt, "filler")
        filled = 0
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        filled += os.write(fd, b"\0" * size)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        finally:
            os.close(fd)
        C.log("     (filler %d bytes; %d blocks free)"
              % (filled, os.statvfs(mnt).f_bavail))
        plan = []
        for i in range(DISTINCT):
            dom = PLAN[i % len(PLAN)][1]
            plan.append(("198.51.100.%d" % (i + 1) if i < 250
                         else "2001:db8::1:%x" % i, dom))
        res = self.send_seq(d, plan)
        C.log("     (%s)" % C.latency(res))
        why = []
        try:
            C.judge_load(first + res, FAST_S)
        except Fail as e:
            why.append(str(e))
        total = 5 + DISTINCT
        s = d.wait_stats(lambda s: s.get("records", 0) >= total and
                         s.get("store_errors", 0) >= 1, timeout=10)
        C.log("     (counters %s)" % s)
        if s["records"] != total:
            why.append("reports_records_total %d, want %d"
                       % (s["records"], total))
        if s["store_errors"] == 0:
            why.append("no store error with the disk full: %s" % s)
        ex = {}
        try:
            rc, secs = self.stop_timed(d)
            ex = {k: v for k, v in d.exit_stats().items() if "reports" in k}
            C.log("     (SIGTERM: exit %s in %.1f s; exit line %s)"
                  % (rc, secs, ex))
            if rc != 0:
                why.append("SIGTERM: exit %s" % rc)
        except Fail as e:
            why.append(str(e))
        w, dr = (ex.get("reports_written_total"),
                 ex.get("reports_dropped_total"))
        if w is None or dr is None or w + dr != total or dr == 0:
            why.append("exit line written %s, dropped %s: want some "
                       "dropped, and %d in all" % (w, dr, total))
        os.unlink(filler)
        rows, tables = C.sqlite_integrity(db)
        if rows != ["ok"]:
            why.append("PRAGMA integrity_check: %s" % rows[:10])
        if w is not None:
            r, lines = C.dry_total(d.conf, self.day,
                                   os.path.join(self.tmp, "dry-full"))
            n = sum(v[1] for v in lines.values())
            if n != w:
                why.append("the dry run counts %d messages, the daemon "
                           "wrote %d" % (n, w))
        if why:
            raise Fail("; ".join(why))

    def kill9(self):
        self.k9db = os.path.join(self.tmp, "kill9.db")
        d = self.daemon("kill-9", "sqlite:" + self.k9db)
        load = C.Load(d.spec, PLAN, LOAD_THREADS)
        self.loads.append(load)
        load.start()
        t_load = time.monotonic()
        s = d.wait_stats(lambda s: s.get("written", 0) >=
                         WRITTEN_BEFORE_KILL and
                         time.monotonic() > t_load + 1.0)
        C.need_stats(s)
        t_kill = time.monotonic()
        d.proc.kill()
        d.proc.wait(timeout=10)
        load.stop()
        res = [r for r in load.done() if r[0] + r[1] < t_kill]
        C.log("     (%s before the kill; %s)" % (C.latency(res), s))
        why = []
        try:
            C.judge_load(res, LOAD_S)
        except Fail as e:
            why.append(str(e))
        if s["written"] < WRITTEN_BEFORE_KILL:
            why.append("only %d written after %d messages"
                       % (s["written"], len(res)))
        rows, tables = C.sqlite_integrity(self.k9db)
        C.log("     (integrity_check %s; tables %s)" % (rows[:3], tables))
        if rows != ["ok"]:
            why.append("PRAGMA integrity_check: %s" % rows[:10])
        r, lines = C.dry_total(d.conf, self.day,
                               os.path.join(self.tmp, "dry-kill9"))
        self.k9msgs = sum(v[1] for v in lines.values())
        if self.k9msgs < s["written"]:
            why.append("the dry run counts %d messages, the daemon had "
                       "written %d before the kill"
                       % (self.k9msgs, s["written"]))
        if why:
            raise Fail("; ".join(why))

    def kill9_reopen(self):
        d = self.daemon("kill-9-reopen", "sqlite:" + self.k9db)
        res = self.send_seq(d, PLAN[:5])
        why = []
        try:
            C.judge_load(res, FAST_S)
        except Fail as e:
            why.append(str(e))
        rc, secs = self.stop_timed(d)
        if rc != 0:
            why.append("SIGTERM: exit %s" % rc)
        r, lines = C.dry_total(d.conf, self.day,
                               os.path.join(self.tmp, "dry-reopen"))
        n = sum(v[1] for v in lines.values())
        if n != self.k9msgs + 5:
            why.append("the dry run counts %d messages, want %d + 5"
                       % (n, self.k9msgs))
        if why:
            raise Fail("; ".join(why))

    def pg_restart(self):
        # the cluster of down-pg, started again
        C.pg_start_again(self.pgdir)
        self.pg_up = True
        d = self.daemon("pg-restart", self.uri)
        load = C.Load(d.spec, PLAN, LOAD_THREADS)
        self.loads.append(load)
        load.start()
        why = []
        s = d.wait_stats(lambda s: s.get("written", 0) >= 30)
        C.need_stats(s)
        t_down = time.monotonic()
        C.pg_stop(self.pgdir)
        self.pg_up = False
        time.sleep(1.0)
        s_down = d.stats()
        C.pg_start_again(self.pgdir)
        self.pg_up = True
        t_up = time.monotonic()
        s_up = d.stats()
        s2 = d.wait_stats(lambda s: s["written"] > s_up["written"],
                          timeout=35)
        t_again = time.monotonic()
        load.stop()
        res = load.done()
        during = [r for r in res if t_down <= r[0] + r[1] <= t_up]
        C.log("     (%s; %d answered in the %.1f s the database was down; "
              "written again %.1f s after the start)"
              % (C.latency(res), len(during), t_up - t_down,
                 t_again - t_up))
        C.log("     (counters before %s, down %s, up %s, again %s)"
              % (s, s_down, s_up, s2))
        try:
            C.judge_load(res, LOAD_S)
        except Fail as e:
            why.append(str(e))
        if not during:
            why.append("no message answered while the database was down")
        if s2["written"] <= s_up["written"]:
            why.append("nothing written within 35 s of the restart: %s"
                       % s2)
        if s2["store_errors"] == 0:
            why.append("the outage counted no store error: %s" % s2)
        n = len(res)
        fin = d.wait_stats(lambda s: s.get("records", 0) >= n and
                           s.get("queue_length", 1) == 0 and
                           s.get("written", 0) + s.get("dropped", 0) >= n,
                           timeout=10)
        if fin["records"] != n or fin["written"] + fin["dropped"] != n:
            why.append("counters %s after %d messages, want records = "
                       "written + dropped = %d" % (fin, n, n))
        rc, secs = self.stop_timed(d)
        if rc != 0:
            why.append("SIGTERM: exit %s" % rc)
        r, lines = C.dry_total(d.conf, self.day,
                               os.path.join(self.tmp, "dry-pg"))
        stored = sum(v[1] for v in lines.values())
        # a put whose COMMIT went through as the server shut down, before
        # its answer reached the writer, is counted dropped and is in the
        # database: the only difference allowed, at most what was dropped
        if not fin["written"] <= stored <= fin["written"] + fin["dropped"]:
            why.append("the dry run counts %d messages, the daemon wrote "
                       "%d and dropped %d" % (stored, fin["written"],
                                              fin["dropped"]))
        elif stored != fin["written"]:
            C.log("     (%d of the records counted dropped are in the "
                  "database: a COMMIT whose answer was lost)"
                  % (stored - fin["written"]))
        if why:
            raise Fail("; ".join(why))

    def drain_and_stop(self, d, load, why):
        """stop load, wait until d's queue is empty, SIGTERM it: the
        messages of load, and the exit line's counters"""
        load.stop()
        res = load.done()
        n = len(res)
        s = d.wait_stats(lambda s: s.get("records", 0) >= n and
                         s.get("queue_length", 1) == 0 and
                         s.get("written", 0) + s.get("dropped", 0) >= n,
                         timeout=10)
        if s["dropped"] or s["store_errors"] or s["written"] != n:
            why.append("counters %s after %d messages, want all written, "
                       "no store error" % (s, n))
        why += self.stop_and_count(d, {"reports_written_total": n,
                                       "reports_dropped_total": 0}, n)
        return res

    def reporter_while_writing(self):
        outbox = os.path.join(self.tmp, "outbox")
        os.makedirs(outbox)
        sendmail = os.path.join(self.tmp, "fake-sendmail")
        rig.write(sendmail, "#!/bin/sh\ncat >\"$(mktemp %s/msg.XXXXXX)\"\n"
                  % outbox, 0o755)
        db = os.path.join(self.tmp, "concurrent.db")
        d = self.daemon("reporter-while-writing", "sqlite:" + db,
                        '\tsendmail = "%s";\n' % sendmail)
        load = C.Load(d.spec, PLAN, LOAD_THREADS)
        self.loads.append(load)
        load.start()
        why = []
        s = d.wait_stats(lambda s: s.get("written", 0) >= 50)
        C.need_stats(s)
        runs = [["--dry-run", "--dir", os.path.join(self.tmp, "dry-conc")],
                ["--prune"]]
        runs += [["--domain", dom] for dom in sorted({dm for _, dm in PLAN})]
        runs += [["--prune"], ["--dry-run", "--dir",
                               os.path.join(self.tmp, "dry-conc2")]]
        t1 = time.monotonic()
        for args in runs:
            if args[0] != "--prune":
                args = args + ["--from", self.day, "--to", C.utc_day()]
            if "--dir" in args:
                os.makedirs(args[args.index("--dir") + 1], exist_ok=True)
            r = C.run_reporter(d.conf, args)
            if r.returncode != 0:
                why.append("authmilter-report %s: exit %d: %s"
                           % (" ".join(args), r.returncode,
                              (r.stdout + r.stderr).strip()[-300:]))
        C.log("     (%d reporter runs in %.1f s while the daemon wrote)"
              % (len(runs), time.monotonic() - t1))
        res = self.drain_and_stop(d, load, why)
        C.log("     (%s)" % C.latency(res))
        try:
            C.judge_load(res, LOAD_S)
        except Fail as e:
            why.append(str(e))
        sent = len(os.listdir(outbox))
        want = len({dm for _, dm in PLAN})
        if sent != want:
            why.append("%d report messages handed to sendmail, want %d"
                       % (sent, want))
        if why:
            raise Fail("; ".join(why))

    def sighup(self):
        db = os.path.join(self.tmp, "sighup.db")
        other = os.path.join(self.tmp, "sighup-other.db")
        d = self.daemon("sighup", "sqlite:" + db)
        load = C.Load(d.spec, PLAN, LOAD_THREADS)
        self.loads.append(load)
        load.start()
        why = []
        s = d.wait_stats(lambda s: s.get("written", 0) >= 20)
        C.need_stats(s)
        with open(d.conf) as f:
            text = f.read()
        for i in range(6):
            # a start-only setting changed: logged, the running one kept
            rig.write(d.conf, text.replace(db, other) if i % 2 == 0
                      else text)
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
        rig.write(d.conf, text)
        if d.proc.poll() is not None:
            why.append("the daemon exited after SIGHUP: %s"
                       % d.proc.returncode)
        res = self.drain_and_stop(d, load, why)
        C.log("     (%s)" % C.latency(res))
        try:
            C.judge_load(res, LOAD_S)
        except Fail as e:
            why.append(str(e))
        if os.path.exists(other):
            why.append("the store of the reloaded file was opened (%s): "
                       "reports.store is start only" % other)
        r, lines = C.dry_total(d.conf, self.day,
                               os.path.join(self.tmp, "dry-sighup"))
        n = sum(v[1] for v in lines.values())
        if n != len(res):
            why.append("the dry run counts %d messages, %d were sent"
                       % (n, len(res)))
        if why:
            raise Fail("; ".join(why))

    def pg_procs(self):
        """the pids of the cluster's server and its children"""
        with open(os.path.join(self.pgdir, "data", "postmaster.pid")) as f:
            top = int(f.readline())
        pids = [top]
        for n in os.listdir("/proc"):
            if not n.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % n) as f:
                    st = f.read()
            except OSError:
                continue
            if int(st.rsplit(")", 1)[1].split()[1]) == top:
                pids.append(int(n))
        return pids

    def pg_signal(self, sig):
        for pid in self.pg_procs():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def pg_frozen(self):
        d = self.daemon("pg-frozen", self.uri)
        first = self.send_seq(d, PLAN[:5])
        s0 = d.wait_stats(lambda s: s.get("written", 0) >= 5)
        C.need_stats(s0)
        if s0["written"] < 5:
            raise Fail("before the freeze: %s, want 5 written" % s0)
        self.pg_signal(signal.SIGSTOP)
        self.pg_stopped = True
        plan = [PLAN[i % len(PLAN)] for i in range(SEQ)]
        res = self.send_seq(d, plan)
        time.sleep(0.5)             # the writer is in its put by now
        res += self.send_seq(d, plan)
        C.log("     (%s)" % C.latency(first + res))
        why = []
        try:
            C.judge_load(first + res, FAST_S)
        except Fail as e:
            why.append(str(e))
        s = d.stats()
        C.log("     (counters %s)" % s)
        if s["records"] != 5 + 2 * SEQ:
            why.append("reports_records_total %d, want %d"
                       % (s["records"], 5 + 2 * SEQ))
        why += self.stop_and_count(d, {}, 5 + 2 * SEQ)
        self.pg_signal(signal.SIGCONT)
        self.pg_stopped = False
        if why:
            raise Fail("; ".join(why))

    def main(self):
        broken = False
        ck = self.checks
        try:
            self.ports = dict(dns=rig.free_ports(1)[0])
            C.start_dns(self.tmp, self.ports["dns"], self.procs)
            C.log("reports-faults: rig up in %.1f s"
                  % (time.monotonic() - self.t0))
            ck.run("down-sqlite", self.down_sqlite)
            pg = ck.run("down-pg", self.down_pg)
            ck.run("pg-unanswered", self.pg_unanswered)
            ck.run("disk-full", self.disk_full)
            if ck.run("kill-9", self.kill9):
                ck.run("kill-9-reopen", self.kill9_reopen)
            ck.run("reporter-while-writing", self.reporter_while_writing)
            ck.run("sighup", self.sighup)
            if pg or getattr(self, "uri", None):
                if ck.run("pg-restart", self.pg_restart) or self.pg_up:
                    ck.run("pg-frozen", self.pg_frozen)
            else:
                ck.fail("pg-restart", "no PostgreSQL (see down-pg)")
                ck.fail("pg-frozen", "no PostgreSQL (see down-pg)")
        except Exception as e:
            C.log("reports-faults: rig failure: %s: %s"
                  % (type(e).__name__, e))
            if not isinstance(e, (rig.RigError, Fail)):
                traceback.print_exc(file=sys.stdout)
            broken = True
        finally:
            self.teardown(broken)
        C.log("reports-faults: %.1f s" % (time.monotonic() - self.t0))
        C.log("reports-faults: %d passed, %d failed"
              % (ck.passed, ck.failed))
        if broken:
            return 99
        return 1 if ck.failed else 0

    def teardown(self, broken):
        for load in self.loads:
            load.stop()
        rig.stop_processes(self.procs)
        if self.blackhole:
            self.blackhole.close()
        if self.pg_stopped:
            self.pg_signal(signal.SIGCONT)
        if self.pg_up:
            try:
                C.pg_stop(self.pgdir)
            except Fail as e:
                C.log("reports-faults: %s" % e)
        for m in self.mounts:
            subprocess.run(["umount", m], capture_output=True)
        if self.checks.failed or broken:
            for d in self.daemons:
                C.show(d.logpath, 12)
        if os.environ.get("REPORTS_KEEP") == "1" or self.checks.failed \
                or broken:
            C.log("reports-faults: files kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(Run().main())
