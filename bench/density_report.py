#!/usr/bin/env python3
"""bench/density.sh's report: reads each side's work directory (steps.tsv,
end, failures, boot.all), writes the JSON, and prints the per-step series,
what grows per container in the daemon (least-squares slopes), and the
issue 24 targets marked met / not met.

usage: density_report.py OUT.json LODGE_DIR [LXD_DIR|""] PARAMS HOST SYSCTLS
"""
import json
import os
import sys
import time


def num(v):
    if v in ("", "null", None):
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() else f


def load_side(d):
    if not d or not os.path.isdir(d):
        return None
    lines = open(os.path.join(d, "steps.tsv")).read().splitlines()
    head = lines[0].split("\t")
    steps = [dict(zip(head, map(num, l.split("\t")))) for l in lines[1:] if l.strip()]
    end = {}
    for l in open(os.path.join(d, "end")).read().splitlines():
        k, _, v = l.partition(" ")
        end[k] = num(v.strip())
    fails = []
    if os.path.exists(os.path.join(d, "failures")):
        fails = open(os.path.join(d, "failures")).read().splitlines()
    boots = []
    if os.path.exists(os.path.join(d, "boot.all")):
        for l in open(os.path.join(d, "boot.all")).read().splitlines():
            f = l.split()
            if len(f) >= 3:
                boots.append({"name": f[0], "ms": num(f[1]), "state": f[2]})
    return {"steps": steps, "end": end, "failures_total": len(fails), "failures": fails[:20], "boot_samples": boots}


def slope(steps, key, scale=1.0):
    """Least-squares slope of key against count, per container."""
    pts = [(s["count"], s[key] * scale) for s in steps if isinstance(s.get(key), (int, float))]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx



def growth(side):
    st = side["steps"]
    g = {
        "goroutines_per_container": slope(st, "goroutines"),
        "fds_per_container": slope(st, "daemon_fds"),
        "rss_kib_per_container": slope(st, "daemon_rss_mib", 1024),
        "host_mem_mib_per_container": slope(st, "mem_used_mib"),
        "list_ms_per_container": slope(st, "list_ms"),
        "exec_ms_per_container": slope(st, "exec_ms"),
        "launch_ms_per_container": slope(st, "launch_ms"),
    }
    g["threads_per_container"] = slope(st, "daemon_threads")
    # The daemon's CPU per launch, the launches alone: growing with the
    # count means each launch does work over every container (quadratic
    # in total).
    g["launch_cpu_ms_per_container"] = slope(st, "launch_cpu_ms")
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in g.items()}


def at(steps, count, key):
    for s in steps:
        if s["count"] == count:
            return s.get(key)
    return None


def main():
    out, lodge_dir, lxd_dir, params, host, sysctls = sys.argv[1:7]
    lodge = load_side(lodge_dir)
    lxd = load_side(lxd_dir)
    sides = {"lodge": lodge}
    if lxd:
        sides["lxd"] = lxd
    for s in sides.values():
        s["growth"] = growth(s)

    targets = []

    def target(what, value, met, note=""):
        targets.append({"what": what, "value": value, "met": met, "note": note})

    ls, le = lodge["steps"], lodge["end"]
    last = ls[-1] if ls else {}
    n_req = int(params.split()[0].split("=")[1])
    n = le.get("launched", 0)
    scale = "" if n_req >= 1000 else f" (run at N={n_req}; the target is at 1,000)"
    rl = le.get("end_up_and_leased", 0)
    target(f"{n_req:,}/{n_req:,} running with a lease", f"{rl}/{n_req} (launched {n})", rl == n_req and n == n_req, scale)
    if lxd and lxd["steps"]:
        common = max(set(s["count"] for s in ls) & set(s["count"] for s in lxd["steps"]), default=None)
        if common:
            a, b = at(ls, common, "mem_per_ct_mib"), at(lxd["steps"], common, "mem_per_ct_mib")
            ca, cb = at(ls, common, "ct_mem_mib"), at(lxd["steps"], common, "ct_mem_mib")
            target("host memory per container <= LXD's", f"{a} vs {b} MiB at {common} (cgroups: {ca} vs {cb} MiB)",
                   a is not None and b is not None and a <= b)
        else:
            target("host memory per container <= LXD's", "no common step", None)
    else:
        target("host memory per container <= LXD's", "LXD not run", None)
    # At N: once every container has booted and the host settled (the
    # steps' figures are taken while the last launches boot), if measured.
    when = f"at {last.get('count')}"
    lm, elast = last.get("list_ms"), last.get("exec_ms")
    if le.get("settled_list_ms") is not None:
        lm, elast = le["settled_list_ms"], le.get("settled_exec_ms")
        when += f", settled (host {float(le.get('settled_idle') or 0) * 100:.0f}% idle); while booting: {last.get('list_ms')} ms"
    target(f"list of {n_req:,} < 150 ms", f"{lm} ms {when}", lm is not None and lm < 150, scale)
    e10 = at(ls, 10, "exec_ms")
    # No step at 10 (N or STEP below it): nothing to compare.
    ok = None if e10 is None or elast is None else elast <= 1.5 * e10
    target(f"exec at {n_req:,} <= 1.5x exec at 10", f"{elast} vs {e10} ms ({(elast / e10) if e10 and elast else 0:.2f}x)", ok, scale)
    rss = max((s["daemon_rss_mib"] for s in ls if isinstance(s.get("daemon_rss_mib"), (int, float))), default=None)
    target("lodged RSS < 200 MiB", f"{rss} MiB (max over the steps)", rss is not None and rss < 200, scale)
    sd = le.get("shutdown_ms")
    target(f"lodged shutdown of {n_req:,} < 60 s", f"{sd / 1000 if sd else None} s", sd is not None and sd < 60000 and le.get("running_after_shutdown") == 0, scale)
    back = le.get("restart_up_and_leased", 0)
    target("all come back at the next start", f"{back}/{n} running with a lease; all RUNNING after {le.get('restart_all_running_ms', 0) / 1000:.1f} s, ready after {le.get('restart_ready_ms')} ms",
           back == n and n > 0)

    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host, "params": params,
           "sysctls": dict(kv.split("=", 1) for kv in sysctls.split()), "sides": sides, "targets": targets}
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)

    cols = [("count", "n"), ("launch_ms", "launch"), ("mem_per_ct_mib", "MiB/ct"), ("daemon_rss_mib", "RSS MiB"),
            ("daemon_fds", "fds"), ("goroutines", "gorout."), ("list_ms", "list"), ("exec_ms", "exec"),
            ("boot_ms", "boot"), ("ct_mem_mib", "ct MiB"), ("launch_cpu_ms", "cpu/l"), ("daemon_threads", "threads"), ("leases", "leases"), ("daemon_cpu_s", "cpu s"), ("failed", "failed")]
    for name, s in sides.items():
        print(f"\n{name}: per step (ms unless marked)")
        print("".join(f"{h:>9}" for _, h in cols))
        for row in s["steps"]:
            print("".join(f"{str(row.get(k)):>9}" for k, _ in cols))
        print(f"{name}: end: " + ", ".join(f"{k}={v}" for k, v in s["end"].items()))
        if s["failures_total"]:
            print(f"{name}: {s['failures_total']} failed launches; first: {s['failures'][0][:300]}")
        g = s["growth"]
        print(f"{name}: growth per container: goroutines {g['goroutines_per_container']}, fds {g['fds_per_container']}, "
              f"RSS {g['rss_kib_per_container']} KiB, host memory {g['host_mem_mib_per_container']} MiB, "
              f"list {g['list_ms_per_container']} ms, exec {g['exec_ms_per_container']} ms, "
              f"threads {g['threads_per_container']}, daemon CPU per launch {g['launch_cpu_ms_per_container']} ms more per container running")
    print("\ntargets (issue 24)")
    for t in targets:
        mark = {True: "met", False: "NOT MET", None: "-"}[t["met"]]
        print(f"  {mark:8} {t['what']:42} {t['value']}{t['note']}")


if __name__ == "__main__":
    main()
