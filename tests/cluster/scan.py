"""A port scan of one node, as a machine on its network sees it through the node's firewall.

    python3 scan.py NAME TARGET SS_OUTPUT ALLOWED [MUST_SEE]

SS_OUTPUT is what `ss -Htln` printed inside the node: every TCP socket listening there. Each one that
listens on TARGET (or on every address) is connected to on TARGET from this namespace; an answer means the
firewall let the connection in, a timeout that it dropped it. ALLOWED is the comma-separated ports (and
ranges A-B) that must answer; every other listening port must be dropped. MUST_SEE lists ports that must be
among the listening ones, so that a scan of a node that runs nothing cannot pass.

Prints `ok: ...` or `FAILED: ...` lines (tests/cluster/allinone.sh counts them) and `scan: finished`."""

import socket
import sys
from concurrent.futures import ThreadPoolExecutor

from checks import check


def ports(text):
    out = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def listening(ss_output, target):
    """The ports listening on `target` or on every address (IPv4 or IPv6)."""
    out = set()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        address, _, port = fields[3].rpartition(":")
        address = address.strip("[]").split("%")[0]
        if address in ("0.0.0.0", "*", "::", target):
            out.add(int(port))
    return out


def reaches(target, port):
    try:
        with socket.create_connection((target, port), timeout=2):
            return True
    except socket.timeout:
        return False
    except OSError:
        # Refused (a reset): the firewall let the packet in and nothing listens any more.
        return True


def main():
    name, target, ss_file, allowed = sys.argv[1:5]
    must_see = ports(sys.argv[5]) if len(sys.argv) > 5 else set()
    allowed = ports(allowed)
    with open(ss_file) as f:
        open_ports = sorted(listening(f.read(), target))
    with ThreadPoolExecutor(max_workers=64) as pool:
        seen = dict(zip(open_ports, pool.map(lambda p: reaches(target, p), open_ports)))
    print(f"scan {name}: listening on {target}: {open_ports}")
    print(f"scan {name}: answered: {sorted(p for p, ok in seen.items() if ok)}")
    missing = sorted(must_see - set(open_ports))
    check(f"{name}: the scan saw the ports it must judge listening", not missing, f"not listening: {missing}")
    wrong_open = sorted(p for p, ok in seen.items() if ok and p not in allowed)
    check(f"{name}: no port outside the allowed ones answers", not wrong_open, f"answered: {wrong_open}")
    wrong_dropped = sorted(p for p, ok in seen.items() if not ok and p in allowed)
    check(f"{name}: every allowed port that listens answers", not wrong_dropped, f"dropped: {wrong_dropped}")
    print("scan: finished")


if __name__ == "__main__":
    main()
