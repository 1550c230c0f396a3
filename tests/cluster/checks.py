"""The cluster tier's assertions: each prints `ok: NAME` or `FAILED: NAME DETAIL` (tests/cluster/allinone.sh
counts those lines) and the failures are counted for the exit status."""

failures = 0


def check(name, ok, detail=""):
    global failures
    if ok:
        print(f"ok: {name}", flush=True)
    else:
        failures += 1
        print(f"FAILED: {name} {detail}", flush=True)
