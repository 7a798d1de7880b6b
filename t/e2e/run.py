#!/usr/bin/env python3
"""run.py - end-to-end test runner: Postfix -> authmilter -> sink, NSD for DNS.

Started by t/e2e.sh inside private network/mount/pid namespaces (only lo).
It builds a closed mail system in a temporary directory:

  sender (smtplib, XCLIENT, AUTH, DKIM signing with dkimpy)
     -> Postfix smtpd[group] -> authmilter[group] (inet milter)
             |                        |
             v                        v
     smtp client -> sink       NSD (zones from the cases, DKIM keys)
     (or the hold queue)

then plays every case and checks the SMTP reply and the delivered (or
held) message. Cases that need another daemon configuration form a group:
one authmilter and one Postfix smtpd service per distinct configuration.
Prints one line per case ("ok NAME" or "FAIL NAME: why"), one more per case
the milter evaluated ("ok NAME (-t agrees)", see AUTHMILTER -t below) and
ends with "e2e: N passed, N failed" counting both kinds of check. Exit
status 0 when all pass, 1 otherwise, 99 when the rig itself could not be
set up. On any failure it prints the tail of Postfix's maillog,
authmilter's stderr and NSD's log.

Usage: run.py [--no-milter] [--keep] [CASE...]
  --no-milter  Postfix without smtpd_milters: checks the rig alone (only
               the SMTP outcome and delivery are checked).
  --keep       keep the temporary directory (also: E2E_KEEP=1).
  CASE         run only these cases (names without .case).
Environment: top_srcdir, top_builddir (authmilter is $top_builddir/authmilter);
  E2E_KEEP=1 keeps the temporary directory; E2E_VERBOSE=1 prints timings;
  E2E_MILTER_PREFIX="valgrind -q" (or strace ...) wraps the daemon.

FILES (all in t/e2e/)
  run.py       this runner: reads the cases, starts the rig, plays and
               judges every case, prints the result.
  casefile.py  the case reader: CASE FILE FORMAT, the cases' own checks.
  rig.py       the rig: keys, zones and NSD, the daemons, Postfix, the
               sink, the SMTP sender; WHAT POSTFIX 3.7 DOES HERE, THE
               GROUPS.
  judge.py     the judge: the delivered and held copies, the replies, the
               daemons' log lines and the `authmilter -t` comparison.
  scrape.py    each daemon's metrics endpoint against the run: counters
               equal to what the messages got, promtool's lint.
  cases/       NAME.case, one per case.
"""

import concurrent.futures
import os
import signal
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ left in t/e2e/

from casefile import CaseError, load_cases
from judge import judge, judge_t, read_log_lines
from scrape import check_metrics
from rig import (T_WORKERS, Rig, RigError, delete_held, log,
                 make_groups, play, postqueue, show_logs, start_tcheck,
                 wait_delivery)


# ---- main ----------------------------------------------------------------

def main(argv):
    use_milter = "--no-milter" not in argv
    keep = "--keep" in argv or os.environ.get("E2E_KEEP") == "1"
    only = [a for a in argv if not a.startswith("--")]
    srcdir = os.environ.get("top_srcdir",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
    try:
        cases = load_cases(os.path.join(srcdir, "t", "e2e", "cases"), only)
        groups = make_groups(cases, use_milter)
    except (CaseError, OSError) as e:
        log("e2e: bad case: %s" % e)
        return 99
    rig = Rig(use_milter)
    failed = 0
    checks = len(cases)         # cases, then the -t comparisons
    daemon_bad = 0
    pool = None
    rig_broken = False
    try:
        rig.start(cases, groups)
        if use_milter:
            pool = concurrent.futures.ThreadPoolExecutor(T_WORKERS)
            for c in cases:
                c.on_sent = lambda c, token: start_tcheck(c, token, rig.tmp,
                                                          pool)
        for c in cases:
            t1 = time.monotonic()
            try:
                play(c, rig.keys)
            except Exception as e:    # one case's trouble is its own
                c.error = "%s: %s" % (type(e).__name__, e)
            c.ms = (time.monotonic() - t1) * 1e3
        queue = wait_delivery(cases, rig.sink, use_milter, rig.confdir)
        logs = read_log_lines(rig.tmp, groups) if use_milter else {}
        for c in cases:
            try:
                problems = judge(c, rig.sink, use_milter, queue, rig.confdir,
                                 rig.ports["dns"])
            except RigError as e:
                problems = ["rig: %s" % e]
            if problems:
                failed += 1
                log("FAIL %s" % c.name)
                log("     (%s)" % c.description)
                for pr in problems:
                    log("     " + pr)
            else:
                log("ok   %s" % c.name + (" (%.0f ms)" % c.ms
                                          if os.environ.get("E2E_VERBOSE")
                                          else ""))
            if not c.tcheck:
                continue
            try:
                checked, problems = judge_t(c, rig.sink, queue, rig.confdir,
                                            logs)
            except RigError as e:
                checked, problems = True, ["rig: %s" % e]
            if not checked:
                continue
            checks += 1
            if problems:
                failed += 1
                log("FAIL %s (-t disagrees)" % c.name)
                for pr in problems:
                    log("     " + pr)
            else:
                log("ok   %s (-t agrees)" % c.name)
        if use_milter:
            for name, problems, n in check_metrics(groups, rig.tmp):
                checks += 1
                if problems:
                    failed += 1
                    log("FAIL metrics-%s" % name)
                    for pr in problems:
                        log("     " + pr)
                else:
                    log("ok   metrics-%s (%d messages: counters equal the "
                        "messages, promtool clean)" % (name, n))
        delete_held(rig.confdir)
        left = postqueue(rig.confdir)
        if left:
            log("e2e: messages left in Postfix's queues: %s" % left)
        log("e2e: setup %.1f s (%s), total %.1f s%s"
            % (rig.setup_s, ", ".join(rig.times), time.monotonic() - rig.t0,
               "" if use_milter else " (rig only, no milter)"))
    except Exception as e:      # anything here means the rig is broken
        log("e2e: rig failure: %s: %s" % (type(e).__name__, e))
        if not isinstance(e, RigError):
            traceback.print_exc(file=sys.stdout)
        rig_broken = True
    finally:
        if pool:                # -t runs left by a broken rig end first
            pool.shutdown(wait=True, cancel_futures=True)
        if failed or rig_broken:
            show_logs(rig.tmp)
        daemon_bad = rig.stop(keep, failed or rig_broken)
    if rig_broken:
        log("e2e: 0 passed, %d failed" % len(cases))
        return 99
    log("e2e: %d passed, %d failed" % (checks - failed,
                                       failed + daemon_bad))
    return 1 if failed or daemon_bad else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    sys.exit(main(sys.argv[1:]))
