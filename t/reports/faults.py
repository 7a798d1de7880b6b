#!/usr/bin/env python3
"""faults.py - the report store failing under the milter (issue 14).

Started by t/reports-faults.sh (t/reports.sh faults) inside private
network, mount and pid namespaces (only lo). NSD serves the sender
domains of common.py; each part starts its own authmilter with reports =
{ } and a metrics endpoint and talks the milter protocol to it
(t/milterclient.py). The promise under test (store.h): mail is never
delayed by the store; what cannot be stored is counted.

Checks (one line each, "ok NAME" or "FAIL NAME: why"):

down-sqlite      store "sqlite:" in a directory that does not exist:
                 every message gets its verdict and Authentication-Results
                 within FAST_S; reports_dropped_total counts every record
                 (none written); SIGTERM exits 0 within STOP_S.
down-pg          the same with a postgresql:// URI whose server is stopped
                 (t/pgtmp.sh: pg_start, then pg_stop).
pg-unanswered    the same with a PostgreSQL "server" that accepts the TCP
                 connection and never answers: mail flows, and SIGTERM
                 still exits 0 within STOP_S.
disk-full        SQLite on a 256 KB tmpfs (mounted in the test's mount
                 namespace): after some records are written the disk is
                 filled; DISTINCT messages, each from its own address (new
                 rows), still get their verdicts within FAST_S; the
                 writer counts drops (reports_dropped_total > 0) and every
                 record is either written or dropped; SIGTERM exits 0;
                 with the filler removed the file passes PRAGMA
                 integrity_check.
kill-9           SQLite under load from LOAD_THREADS connections, the
                 daemon killed with SIGKILL after WRITTEN_BEFORE_KILL
                 records were written: PRAGMA integrity_check says ok and
                 authmilter-report --dry-run finds at least the records
                 the daemon had counted as written.
kill-9-reopen    a new daemon on that file writes again: five more
                 messages, SIGTERM, and the dry run counts five more.
pg-restart       the cluster of down-pg started again (pg_ctl start, as
                 pg_start does), then under load stopped (pg_stop) and
                 started again: no message slower than
                 LOAD_S, messages answered while the database was down,
                 reports_written_total rises again after the restart, and
                 in the end the dry run counts exactly
                 reports_written_total.

Prints "reports-faults: N passed, N failed". Exit status 0 when all pass,
1 otherwise, 99 when the rig could not be set up. REPORTS_KEEP=1 keeps
the temporary directory.
"""

import errno
import os
import shutil
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
SEQ = 12                 # messages of the down-* parts
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
        self.blackhole = None
        self.checks = C.Checks()
        self.day = C.utc_day()
        self.n = 0

    # -- helpers
    def daemon(self, name, store):
        p = rig.free_ports(2)
        conf = C.daemon_conf("inet:%d@127.0.0.1" % p[0], self.ports["dns"],
                             store, metrics_port=p[1])
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
        """the down-* parts: every record dropped, mail flowing"""
        d = self.daemon(name, store)
        plan = [PLAN[i % len(PLAN)] for i in range(SEQ)]
        res = self.send_seq(d, plan)
        C.log("     (%s)" % C.latency(res))
        why = []
        try:
            C.judge_load(res, FAST_S)
        except Fail as e:
            why.append(str(e))
        s = d.wait_stats(lambda s: s.get("dropped", 0) >= SEQ, timeout=8)
        C.need_stats(s)
        if s["records"] != SEQ or s["dropped"] != SEQ or s["written"]:
            why.append("counters %s after %d messages, want records = "
                       "dropped = %d, written 0" % (s, SEQ, SEQ))
        rc, secs = self.stop_timed(d)
        C.log("     (counters %s; SIGTERM: exit %s in %.1f s)"
              % (s, rc, secs))
        if rc != 0:
            why.append("SIGTERM: exit %s" % rc)
        if why:
            raise Fail("; ".join(why))

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
        try:
            rc, secs = self.stop_timed(d)
        except Fail as e:
            raise Fail("; ".join(why + [str(e)]))
        C.log("     (counters %s; SIGTERM: exit %s in %.1f s)"
              % (s, rc, secs))
        if rc != 0:
            why.append("SIGTERM: exit %s" % rc)
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
        s = d.wait_stats(lambda s: s.get("written", 0) >= 5)
        C.need_stats(s)
        if s["written"] < 5:
            raise Fail("before the disk was filled: %s, want 5 written"
                       % s)
        filler = os.path.join(mnt, "filler")
        filled = 0
        with open(filler, "wb") as f:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        f.write(b"\0" * size)
                        f.flush()
                        filled += size
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        st = os.statvfs(mnt)
        C.log("     (filler %d bytes; %d blocks free)" % (filled,
                                                          st.f_bavail))
        w0 = s["written"]
        plan = []
        for i in range(DISTINCT):
            dom = PLAN[i % len(PLAN)][1]
            plan.append(("198.51.100.%d" % (i % 250 + 1) if i < 250
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
                         s.get("queue_length", 1) == 0 and
                         s.get("written", 0) + s.get("dropped", 0) >= total,
                         timeout=10)
        C.log("     (counters %s; %d written before the disk was full)"
              % (s, w0))
        if s["records"] != total:
            why.append("reports_records_total %d, want %d"
                       % (s["records"], total))
        if s["dropped"] == 0:
            why.append("nothing dropped with the disk full: %s" % s)
        if s["written"] + s["dropped"] != s["records"]:
            why.append("written %d + dropped %d != records %d (queue %d)"
                       % (s["written"], s["dropped"], s["records"],
                          s["queue_length"]))
        try:
            rc, secs = self.stop_timed(d)
            C.log("     (SIGTERM: exit %s in %.1f s)" % (rc, secs))
            if rc != 0:
                why.append("SIGTERM: exit %s" % rc)
        except Fail as e:
            why.append(str(e))
        os.unlink(filler)
        rows, tables = C.sqlite_integrity(db)
        if rows != ["ok"]:
            why.append("PRAGMA integrity_check: %s" % rows[:10])
        if why:
            raise Fail("; ".join(why))

    def kill9(self):
        self.k9db = os.path.join(self.tmp, "kill9.db")
        d = self.daemon("kill-9", "sqlite:" + self.k9db)
        load = C.Load(d.spec, PLAN, LOAD_THREADS)
        self.loads.append(load)
        load.start()
        s = d.wait_stats(lambda s: s.get("written", 0) >=
                         WRITTEN_BEFORE_KILL)
        C.need_stats(s)
        t_kill = time.monotonic()
        d.proc.kill()
        d.proc.wait(timeout=10)
        load.stop()
        res = load.done(before=t_kill - 0.2)
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
        if stored != fin["written"]:
            why.append("the dry run counts %d messages, the daemon wrote %d"
                       % (stored, fin["written"]))
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
            if pg or getattr(self, "uri", None):
                ck.run("pg-restart", self.pg_restart)
            else:
                ck.fail("pg-restart", "no PostgreSQL (see down-pg)")
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
