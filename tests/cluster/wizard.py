#!/usr/bin/env python3
"""Drives the stackbox setup wizard the way a browser does, over HTTPS, with the standard library only.

    wizard.py URL STATE_DIR configure EXAMPLE.toml   sign in with the setup token, set the admin password,
                                                     answer network/cluster/roles/settings, and check the
                                                     wizard's plan is the answer file's configuration
    wizard.py URL STATE_DIR install OUT_DIR          start (resume) the installation from the wizard, follow
                                                     it to the end, fetch the done page and the openrc
    wizard.py URL STATE_DIR grow CLUSTER.toml        on the first node, once nodes joined: see each joined
                                                     node's hardware, assign the roles CLUSTER.toml gives it,
                                                     and check the grown configuration the wizard writes
                                                     (STATE_DIR/cluster/config.toml) is CLUSTER.toml's
    wizard.py URL STATE_DIR grow-run OUT             on the first node: "Grow the cluster" from the wizard's API,
                                                     follow its progress (per node and overall) to the end, and
                                                     write OUT as `stackboxd cluster install` prints a run: a
                                                     `NODE ID: done in S (WHY)` line per step that acted, then
                                                     the closing line
    wizard.py URL STATE_DIR status LABEL             on the first node: the cluster's status from the wizard's API
                                                     and page: healthy, and every storage member's MariaDB
                                                     says how it last started (joined, restored, bootstrapped)
    wizard.py URL STATE_DIR network NEW_ADDRESS/PREFIX
                                                     sign in (setup token, admin password), save a static
                                                     network on eth0 under br-mgmt at NEW_ADDRESS, Apply it,
                                                     follow the page's link to the new address with a fresh
                                                     browser (no session) and keep the network there
    wizard.py URL STATE_DIR remove NODE              on the first node: the removal page's warnings, then remove
                                                     NODE from the wizard's API and follow it to the end; prints
                                                     the operation's lines and `NODE removed` when it completed

STATE_DIR is the wizard's state directory as seen from here (for the setup token). The admin password is
kept in STATE_DIR/../cluster-test-password between the two calls (a test file, mode 0600). Each check
prints `ok: NAME` or `FAILED: NAME`; the exit status is the number of failures.
"""
import http.cookiejar
import json
import os
import re
import secrets
import ssl
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request

import checks
from checks import check



class Wizard:
    def __init__(self, url):
        self.url = url.rstrip("/")
        ctx = ssl.create_default_context()
        # The wizard's certificate is self-signed at first boot; an operator compares its fingerprint
        # with the console banner. The test reaches it on the node's own loopback.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=ctx),
            urllib.request.HTTPCookieProcessor(self.jar),
            NoRedirect(),
        )
        self.csrf = None

    def call(self, method, path, body=None, form=None, headers=None, timeout=60):
        headers = dict(headers or {})
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.csrf and method != "GET" and form is None:
            headers["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def page_csrf(self, path):
        status, _, body = self.call("GET", path)
        m = re.search(r'name="csrf" value="([^"]+)"', body)
        return status, (m.group(1) if m else None)

    def sign_in(self, secret):
        _, csrf = self.page_csrf("/login")
        status, headers, _ = self.call("POST", "/login", form={"csrf": csrf, "secret": secret})
        return status, headers.get("Location")

    def api_session(self):
        status, _, body = self.call("GET", "/api/v1/session")
        if status == 200:
            self.csrf = json.loads(body)["csrf_token"]
        return status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def wait_for_wizard(w, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            status, _, _ = w.call("GET", "/api/v1/status")
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(1)
    return False


def password_file(state):
    return os.path.join(os.path.dirname(state.rstrip("/")), "cluster-test-password")


def configure(w, state, example):
    check("the wizard answers on 8443", wait_for_wizard(w))
    token = open(os.path.join(state, "setup-token")).read().strip()
    status, location = w.sign_in(token)
    check("the setup token signs in", status == 303 and location == "/set-password", f"{status} {location}")
    password = secrets.token_urlsafe(24)
    fd = os.open(password_file(state), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, password.encode())
    os.close(fd)
    _, csrf = w.page_csrf("/set-password")
    status, _, _ = w.call("POST", "/set-password", form={"csrf": csrf, "password": password, "confirm": password})
    check("the admin password is set", status == 303)
    w2 = Wizard(w.url)
    status, location = w2.sign_in(token)
    check("the spent setup token no longer signs in", status == 401, f"{status} {location}")
    check("the API session is the admin's", w.api_session() == 200)

    example_cfg = tomllib.load(open(example, "rb"))
    node = example_cfg["nodes"][0]
    steps = [
        ("PUT", "/api/v1/network", {
            "hostname": node["name"], "management_nic": "eth0", "data_nic": example_cfg["networks"]["data_nic"],
            "mode": "dhcp", "address": "", "gateway": "", "dns": "", "bridge": "br-mgmt", "vlan": "", "mtu": "1500",
            "vxlan_min": str(example_cfg["networks"]["vxlan"]["first"]),
            "vxlan_max": str(example_cfg["networks"]["vxlan"]["last"]),
        }),
        ("POST", "/api/v1/cluster", {"name": example_cfg["name"],
                                     "api_address": example_cfg["networks"].get("api_address", "")}),
        ("PUT", "/api/v1/roles", {"roles": node["roles"]}),
        ("PUT", "/api/v1/settings", {
            "flavor": "openstack",
            "cpu_ratio": str(example_cfg["overcommit"]["cpu"]),
            "ram_ratio": str(example_cfg["overcommit"]["ram"]),
            "disk_ratio": str(example_cfg["overcommit"]["disk"]),
        }),
    ]
    for method, path, body in steps:
        status, _, text = w.call(method, path, body=body)
        check(f"{method} {path} is stored", status in (200, 201), f"{status} {text[:400]}")
    status, _, text = w.call("GET", "/api/v1/plan")
    check("the wizard plans the install", status == 200, f"{status} {text[:400]}")
    if status != 200:
        return
    review = json.loads(text)
    cfg = review["config"]
    same = (
        cfg["name"] == example_cfg["name"]
        and cfg["networks"]["management_cidr"] == example_cfg["networks"]["management_cidr"]
        and cfg["networks"].get("data_cidr") == example_cfg["networks"].get("data_cidr")
        and cfg["networks"].get("api_address") == example_cfg["networks"].get("api_address")
        and cfg["networks"].get("management_interface") == example_cfg["networks"].get("management_interface")
        and cfg["nodes"][0]["address"] == node["address"]
        and cfg["nodes"][0].get("data_address") == node.get("data_address")
        and cfg["nodes"][0]["roles"] == node["roles"]
    )
    check("the wizard's configuration is the answer file's", same, json.dumps(cfg))
    check("the review lists the steps, ports and files",
          len(review["steps"]) > 40 and any(p["port"] == "5000/tcp" for p in review["ports"])
          and any(f["path"] == "/etc/keystone/keystone.conf" for f in review["files"]))


def install(w, state, out):
    password = open(password_file(state)).read()
    status, location = w.sign_in(password)
    # Signed in, the admin resumes where the wizard stands: every page answered, the review is next.
    check("the admin signs in with the password and resumes at the review",
          status == 303 and location in ("/review", "/install"), f"{status} {location}")
    w.api_session()
    status, _, text = w.call("POST", "/api/v1/install")
    check("the wizard starts the installation", status == 202, f"{status} {text[:400]}")
    # Follow it as the install page does: the progress, until it ends (at most 40 minutes).
    seen = {}
    deadline = time.time() + 40 * 60
    progress = None
    while time.time() < deadline:
        status, _, text = w.call("GET", "/api/v1/install")
        if status == 401:  # the session expired during a long install: sign in again
            w.sign_in(password)
            w.api_session()
            continue
        progress = json.loads(text)
        for s in progress["steps"]:
            if s["status"] != "pending" and seen.get(s["id"]) != s["status"]:
                seen[s["id"]] = s["status"]
                if s["status"] != "running":
                    print(f"wizard: {s['name']}: {s['status']} {s['detail']}", flush=True)
        if progress["phase"] in ("complete", "failed"):
            break
        time.sleep(3)
    with open(os.path.join(out, "wizard-progress.json"), "w") as f:
        json.dump(progress, f, indent=1)
    phase = progress and progress["phase"]
    check("the wizard's installation completed", phase == "complete",
          json.dumps(progress and progress.get("failure")))
    if not progress:
        return
    by_name = {s["name"]: s for s in progress["steps"]}
    check("the wizard resumed: keystone.db-sync was not redone",
          by_name.get("keystone.db-sync", {}).get("status") == "skipped")
    smoke = progress.get("smoke") or ""
    check("the smoke test's VM got an address from neutron",
          "STACKBOX-SMOKE-OK address=192.168.222." in smoke, smoke[-400:])
    slow = sorted(
        ((float(s["detail"].split()[0]), s["name"]) for s in progress["steps"]
         if s["status"] == "done" and s["detail"].endswith(" s")),
        reverse=True)[:5]
    for secs, name in slow:
        print(f"slowest: {secs:.1f} {name}")
    status, _, page = w.call("GET", "/done")
    check("the done page shows the smoke test passed", status == 200 and "Passed: a VM booted" in page)
    check("the done page lists keystone's endpoint", "https://10.20.0.10:5000/v3" in page)
    status, headers, openrc = w.call("POST", "/api/v1/openrc")
    check("the admin openrc downloads once", status == 200 and "export OS_USERNAME=admin" in openrc,
          f"{status}")
    with open(os.path.join(out, "admin-openrc.sh"), "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(openrc)
    status, _, _ = w.call("POST", "/api/v1/openrc")
    check("a second openrc download is refused (410)", status == 410, f"{status}")
    m = re.search(r"export OS_PASSWORD='([^']*)'", openrc)
    if m:
        status, _, page = w.call("GET", "/done")
        check("the admin password is on no page", m.group(1) not in page)


def grow(w, state, example):
    password = open(password_file(state)).read()
    status, location = w.sign_in(password)
    check("grow: the admin signs in with the password", status == 303, f"{status} {location}")
    w.api_session()
    want = tomllib.load(open(example, "rb"))
    # As an operator reloads the page: a node that has just joined starts its agent a moment later.
    deadline = time.time() + 60
    while True:
        status, _, text = w.call("GET", "/api/v1/cluster/nodes")
        listed = {n["name"]: n for n in json.loads(text)["nodes"]} if status == 200 else {}
        if all(listed.get(n["name"], {}).get("hardware") for n in want["nodes"][1:]) or time.time() > deadline:
            break
        time.sleep(3)
    check("grow: the wizard lists the joined nodes", status == 200, f"{status} {text[:400]}")
    for node in want["nodes"][1:]:
        n = listed.get(node["name"], {})
        check(f"grow: {node['name']}'s hardware is shown (from its agent)",
              bool(n.get("hardware")) and n["hardware"]["facts"]["memory_bytes"] > 0,
              f"{n.get('hardware_error')}")
        status, _, text = w.call("PUT", f"/api/v1/cluster/nodes/{node['name']}", body={"roles": node["roles"]})
        check(f"grow: {node['name']}'s roles are judged on its hardware and saved", status == 200,
              f"{status} {text[:400]}")
    status, _, page = w.call("GET", "/cluster")
    check("grow: the cluster page shows every joined node's roles",
          status == 200 and all(f'id="member-{n["name"]}"' in page for n in want["nodes"][1:])
          and "Assign roles" not in page, f"{status}")
    status, _, text = w.call("GET", "/api/v1/cluster/config")
    check("grow: the wizard makes the grown configuration", status == 200, f"{status} {text[:400]}")
    if status != 200:
        return
    doc = json.loads(text)
    got = tomllib.loads(doc["toml"])
    keys = ("name", "address", "data_address", "roles")
    same = (
        [{k: n.get(k) for k in keys} for n in got["nodes"]] == [{k: n.get(k) for k in keys} for n in want["nodes"]]
        and got["overcommit"] == want["overcommit"]
        and got["networks"].get("api_address") == want["networks"].get("api_address")
    )
    check("grow: the grown configuration is the three-node answer file's", same, doc["toml"])
    written = os.path.join(state, "cluster", "config.toml")
    check("grow: the wizard wrote it where the coordinator takes it",
          os.path.exists(written) and open(written).read() == doc["toml"], written)


def network(w, state, new):
    """The network page's Apply, confirmed from the new address as a browser would."""
    check("the wizard answers", wait_for_wizard(w))
    token = open(os.path.join(state, "setup-token")).read().strip()
    status, location = w.sign_in(token)
    check("the setup token signs in", status == 303, f"{status} {location}")
    password = secrets.token_urlsafe(24)
    _, csrf = w.page_csrf("/set-password")
    status, _, _ = w.call("POST", "/set-password", form={"csrf": csrf, "password": password, "confirm": password})
    check("the admin password is set", status == 303)
    address, gateway = new, new.rsplit(".", 1)[0] + ".1"
    status, csrf = w.page_csrf("/network")
    status, _, text = w.call("POST", "/network", form={
        "csrf": csrf, "hostname": "node1", "management_nic": "eth0", "data_nic": "eth0", "mode": "static",
        "address": address, "gateway": gateway, "dns": gateway, "bridge": "br-mgmt", "vlan": "",
        "mtu": "1500", "vxlan_min": "1", "vxlan_max": "1000"})
    check("the network page stores the network", status == 303, f"{status} {text[:600]}")
    status, _, page = w.call("GET", "/network")
    check("the page shows eth0 with its link and address", re.search(r'<th scope="row">eth0</th><td>link</td>', page)
          is not None and "10.20.0.11/24" in page, page[:3000])
    check("the page previews the bridge", "eth0 → br-mgmt (MTU 1500)" in page)
    _, csrf = w.page_csrf("/network")
    status, _, page = w.call("POST", "/network/apply", form={"csrf": csrf})
    check("Apply applies", status == 200, f"{status} {page[:800]}")
    m = re.search(r'href="(https://([^/"]+)/network/confirm#([a-z0-9]+))"', page)
    check("the page links to the new address with a one-time code", m is not None
          and m.group(2) == address.split("/")[0] + ":8443", page[:2000])
    if m is None:
        return
    laptop = Wizard("https://" + m.group(2))
    deadline, status = time.time() + 60, None
    while time.time() < deadline and status != 200:
        try:
            status, _, page = laptop.call("GET", "/network/confirm", timeout=3)
        except OSError:
            time.sleep(0.5)
    check("the confirmation page answers on the new address without a session", status == 200, f"{status}")
    status, _, page = laptop.call("POST", "/network/confirm", form={"token": "wrong" + m.group(3)})
    check("a wrong code does not confirm", status == 403, f"{status}")
    status, _, page = laptop.call("POST", "/network/confirm", form={"token": m.group(3)})
    check("the code confirms over the new address", status == 200 and "The network is kept" in page, f"{status} {page[:800]}")


def sign_in_again(w, state, what):
    status, location = w.sign_in(open(password_file(state)).read())
    check(f"{what}: the admin signs in with the password", status == 303, f"{status} {location}")
    w.api_session()


def follow(w, what, limit):
    """Polls the cluster's operation until it ends; prints each node's share as it moves."""
    deadline, last, op = time.time() + limit, None, {}
    while time.time() < deadline:
        status, _, text = w.call("GET", "/api/v1/cluster/operation")
        if status == 200:
            op = json.loads(text)
            shares = " ".join(f"{n['name']} {n['finished']}/{n['total']}" + (f" ({n['running']})" if n["running"] else "")
                              for n in op["nodes"])
            if shares != last:
                print(f"{what}: {op['progress']['phase']}: {shares}", flush=True)
                last = shares
            if op["progress"]["phase"] != "running":
                break
        time.sleep(5)
    return op


def acted_lines(op):
    lines = [f"{s['id'].split('/')[0]:<8} {s['id']}: done in {s['detail']}"
             for s in op["progress"]["steps"] if s["status"] == "done"]
    return lines + ([op["report"].rstrip()] if op.get("report") else [])


def grow_run(w, state, out):
    sign_in_again(w, state, "grow-run")
    status, _, text = w.call("POST", "/api/v1/cluster/grow")
    check("grow-run: the wizard starts growing the cluster", status == 202, f"{status} {text[:400]}")
    op = follow(w, "grow-run", 40 * 60)
    phase = op.get("progress", {}).get("phase")
    failure = op.get("progress", {}).get("failure")
    check("grow-run: the wizard's grow completes", phase == "complete", f"{phase} {failure}")
    nodes = op.get("nodes", [])
    check("grow-run: the progress has every node, each finished",
          len(nodes) == 3 and all(n["finished"] == n["total"] > 0 for n in nodes)
          and op["overall"]["finished"] == op["overall"]["total"] == sum(n["total"] for n in nodes),
          json.dumps(nodes))
    status, _, page = w.call("GET", "/cluster/operation")
    check("grow-run: the operation page shows each node's share",
          status == 200 and all(f'id="node-{n["name"]}"' in page for n in nodes) and 'data-phase="complete"' in page,
          f"{status}")
    with open(out, "w") as f:
        f.write("\n".join(acted_lines(op)) + "\n")


def remove(w, state, node):
    sign_in_again(w, state, "remove")
    status, _, page = w.call("GET", f"/cluster/nodes/{node}/remove")
    check(f"remove: the wizard's page for removing {node} says what it does", status == 200 and 'id="remove"' in page,
          f"{status} {page[:400]}")
    for warning in re.findall(r'<p class="warning"[^>]*>([^<]+)</p>', page):
        print(f"page warning: {warning}", flush=True)
    status, _, text = w.call("DELETE", f"/api/v1/cluster/nodes/{node}")
    check(f"remove: the wizard starts removing {node}", status == 202, f"{status} {text[:400]}")
    op = follow(w, "remove", 20 * 60)
    for line in op.get("lines", []) + acted_lines(op) if op else []:
        print(line, flush=True)
    # The removal reinstalls the remaining nodes and ends with the coordinator's smoke test: its report.
    for line in (op.get("progress", {}).get("smoke") or "").splitlines() if op else []:
        print(f"remove smoke: {line}", flush=True)
    phase = op.get("progress", {}).get("phase")
    if phase == "complete":
        print(f"{node} removed", flush=True)
    else:
        print(f"remove: {phase}: {op.get('progress', {}).get('failure')}", flush=True)


def status(w, state, label):
    sign_in_again(w, state, f"status {label}")
    status, _, text = w.call("GET", "/api/v1/cluster/status")
    check(f"status {label}: the wizard asks every agent", status == 200, f"{status} {text[:400]}")
    if status != 200:
        return
    doc = json.loads(text)
    storage = [m for m in doc["members"] if "storage-metadata" in m["roles"]]
    for m in doc["members"]:
        print(f"status {label}: {m['name']}: {m.get('agent')} {(m.get('status') or {}).get('galera_start')}", flush=True)
    check(f"status {label}: healthy, as every agent tells it", doc["healthy"] is True, text[:1000])
    starts = [(m.get("status") or {}).get("galera_start") or {} for m in storage]
    check(f"status {label}: every storage member says how its MariaDB last started (and none waits)",
          len(storage) == 3 and all(s.get("outcome") in ("start", "bootstrap") and s.get("reason") for s in starts),
          json.dumps(starts))
    status, _, page = w.call("GET", "/cluster/status")
    check(f"status {label}: the status page shows each node's last start",
          status == 200 and all(f'id="galera-start-{m["name"]}"' in page for m in storage) and "Healthy" in page,
          f"{status}")


def main():
    if len(sys.argv) != 5 or sys.argv[3] not in ("configure", "install", "grow", "grow-run", "remove", "status", "network"):
        print(__doc__, file=sys.stderr)
        return 2
    url, state, what, arg = sys.argv[1:]
    w = Wizard(url)
    if what == "configure":
        configure(w, state, arg)
    elif what == "grow":
        grow(w, state, arg)
    elif what == "grow-run":
        grow_run(w, state, arg)
    elif what == "remove":
        remove(w, state, arg)
    elif what == "network":
        network(w, state, arg)
    elif what == "status":
        status(w, state, arg)
    else:
        install(w, state, arg)
    print(f"wizard: finished {what} with {checks.failures} failure(s)", flush=True)
    return min(checks.failures, 100)


if __name__ == "__main__":
    sys.exit(main())
