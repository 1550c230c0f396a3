#!/usr/bin/env python3
"""The cloud's APIs as an operator's laptop uses them: over HTTPS from another network namespace, with the
admin openrc the wizard handed out and the cluster's CA. Standard library only.

    api.py OPENRC CAFILE links                  every API's version document links with https only
    api.py OPENRC CAFILE dashboard URL          the dashboard at URL (https://API/dashboard/) answers
                                                over TLS 1.3 only, verified with CAFILE, with its
                                                login page; the admin signs in with the openrc's
                                                password (Django's form and CSRF token) and sees the
                                                dashboard as admin; signs out
    api.py OPENRC CAFILE neutron IDLE ROUNDS    leave the cloud idle IDLE seconds, then ROUNDS times
                                                create and delete a network, subnet, router (with an
                                                interface) and a bound port; every call must answer
                                                within LIMIT seconds

Each check prints `ok: NAME` or `FAILED: NAME`; `api: finished` last; the exit status is the number of
failures. Neutron's API once hung on about one call in ten that notifies the agents (after a minute
without traffic, most of them): this is the test that would have caught it.
"""
import html.parser
import http.cookiejar
import json
import re
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import checks
from checks import check

# The slowest a neutron call may answer ("a few seconds"); the hang it guards against lasted 300 s.
LIMIT = 8.0
# The longest the test waits for any one answer.
TIMEOUT = 60


def openrc(path):
    env = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"export (OS_[A-Z_]+)=(?:'([^']*)'|(\S*))", line.strip())
            if m:
                env[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return env


class Cloud:
    def __init__(self, env, cafile):
        self.env = env
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.token = None
        self.catalog = []
        self.timings = []

    def request(self, method, url, body=None, token=True):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token and self.token:
            headers["X-Auth-Token"] = self.token
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=TIMEOUT) as resp:
                status, raw, hdrs = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), e.headers
        except (TimeoutError, urllib.error.URLError) as e:
            status, raw, hdrs = 0, str(e).encode(), {}
        return status, raw, hdrs, time.monotonic() - started

    def login(self):
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.env["OS_USERNAME"], "password": self.env["OS_PASSWORD"],
                "domain": {"name": self.env.get("OS_USER_DOMAIN_NAME", "Default")}}}},
            "scope": {"project": {"name": self.env["OS_PROJECT_NAME"],
                                  "domain": {"name": self.env.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
        status, raw, hdrs, _ = self.request("POST", self.env["OS_AUTH_URL"] + "/auth/tokens", body, token=False)
        check("the admin signs in to keystone with the wizard's openrc", status == 201, f"{status} {raw[:200]}")
        if status != 201:
            return False
        self.token = hdrs["X-Subject-Token"]
        self.catalog = json.loads(raw)["token"]["catalog"]
        return True

    def endpoint(self, kind):
        for service in self.catalog:
            if service["type"] == kind:
                for e in service["endpoints"]:
                    if e["interface"] == "public":
                        return e["url"].rstrip("/")
        return None


def links(cloud):
    """Every API's root (version) document: it must answer, and each link in it must be https."""
    for kind in ["identity", "image", "placement", "compute", "network"]:
        url = cloud.endpoint(kind)
        if url is None:
            check(f"the catalog lists a public {kind} endpoint", False)
            continue
        root = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/"))
        status, raw, _, _ = cloud.request("GET", root, token=False)
        text = raw.decode(errors="replace")
        plain = sorted(set(re.findall(r'"(http://[^"]*)"', text)))
        check(f"{kind}'s version document ({root}) answers with https links only",
              status in (200, 300) and not plain, f"{status} {plain[:3]}")


def neutron(cloud, idle, rounds):
    url = cloud.endpoint("network")
    check("the catalog lists neutron's public endpoint", url is not None)
    if url is None:
        return
    base = url + "/v2.0"
    status, raw, _, _ = cloud.request("GET", base + "/agents")
    agents = json.loads(raw).get("agents", []) if status == 200 else []
    host = next((a["host"] for a in agents if a["binary"] == "neutron-linuxbridge-agent"), None)
    check("neutron lists a linuxbridge agent to bind ports to", host is not None, f"{status}")
    print(f"api: leaving the cloud idle for {idle} s", flush=True)
    time.sleep(idle)
    slow = []

    def call(what, method, path, body=None, want=(200, 201, 204)):
        status, raw, _, took = cloud.request(method, base + path, body)
        cloud.timings.append((what, took))
        if status not in want:
            slow.append(f"{what}: {status} after {took:.1f}s {raw[:200]!r}")
            return None
        if took > LIMIT:
            slow.append(f"{what}: {took:.1f}s")
        return json.loads(raw) if raw else {}

    for i in range(rounds):
        name = f"stackbox-loop-{i}"
        net = call("network create", "POST", "/networks", {"network": {"name": name}})
        if net is None:
            break
        net_id = net["network"]["id"]
        sub = call("subnet create", "POST", "/subnets", {"subnet": {
            "name": name, "network_id": net_id, "ip_version": 4, "cidr": f"192.168.{200 + i}.0/24"}})
        router = call("router create", "POST", "/routers", {"router": {"name": name}})
        port = None
        if sub and router:
            call("router add interface", "PUT", f"/routers/{router['router']['id']}/add_router_interface",
                 {"subnet_id": sub["subnet"]["id"]})
            port = call("port create (bound)", "POST", "/ports", {"port": {
                "name": name, "network_id": net_id, "binding:host_id": host}})
        if port:
            call("port delete", "DELETE", f"/ports/{port['port']['id']}")
        if sub and router:
            call("router remove interface", "PUT",
                 f"/routers/{router['router']['id']}/remove_router_interface", {"subnet_id": sub["subnet"]["id"]})
        if router:
            call("router delete", "DELETE", f"/routers/{router['router']['id']}")
        if sub:
            call("subnet delete", "DELETE", f"/subnets/{sub['subnet']['id']}")
        call("network delete", "DELETE", f"/networks/{net_id}")
    times = [t for _, t in cloud.timings]
    if times:
        times.sort()
        print(f"api: {len(times)} neutron calls after {idle} s idle: median {times[len(times) // 2]:.2f} s, "
              f"slowest {times[-1]:.2f} s", flush=True)
    check(f"{rounds} rounds of neutron calls after {idle} s idle, each under {LIMIT:.0f} s",
          not slow and len(times) == rounds * 10, "; ".join(slow[:5]))
    status, raw, _, _ = cloud.request("GET", base + "/networks")
    nets = json.loads(raw).get("networks", []) if status == 200 else None
    left = None if nets is None else [n["name"] for n in nets if n["name"].startswith("stackbox-loop-")]
    check("the loop left no network behind", left == [], f"{status} {left}")


class LoginForm(html.parser.HTMLParser):
    """The hidden and visible inputs of the form whose action is the login URL, and its action."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}
        self.inside = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "auth/login" in (a.get("action") or ""):
            self.action, self.inside = a["action"], True
        elif tag == "input" and self.inside and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def tls_version(url, cafile):
    """The TLS version the server at URL agrees to, and whether it refuses TLS 1.2."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or 443
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((parts.hostname, port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=parts.hostname) as tls:
            version = tls.version()
    old = ssl.create_default_context(cafile=cafile)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        with socket.create_connection((parts.hostname, port), timeout=TIMEOUT) as raw:
            with old.wrap_socket(raw, server_hostname=parts.hostname):
                refused = False
    except ssl.SSLError:
        refused = True
    return version, refused


def dashboard(env, cafile, url):
    """The dashboard as a browser uses it: its login page over TLS 1.3 (verified with the cluster's CA),
    the admin's sign-in through Django's form with its CSRF token, a page as the signed-in admin, and
    the sign-out."""
    url = url.rstrip("/") + "/"
    try:
        version, refused = tls_version(url, cafile)
    except OSError as e:
        check(f"the dashboard ({url}) answers over TLS, verified with the cluster's CA", False, str(e))
        return
    check(f"the dashboard ({url}) speaks TLS 1.3, its certificate verified with the cluster's CA",
          version == "TLSv1.3", f"{version}")
    check("the dashboard's port refuses TLS 1.2", refused)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx),
                                         urllib.request.HTTPCookieProcessor(jar))

    def fetch(target, data=None, referer=None):
        headers = {"Accept": "text/html"}
        if referer:
            headers["Referer"] = referer
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(target, data=body, headers=headers)
        try:
            with opener.open(req, timeout=TIMEOUT) as resp:
                return resp.status, resp.geturl(), resp.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return e.code, e.geturl(), e.read().decode(errors="replace")
        except (TimeoutError, urllib.error.URLError) as e:
            return 0, target, str(e)

    # The dashboard's root sends a browser that is not signed in to the login page.
    status, landed, page = fetch(url)
    form = LoginForm()
    form.feed(page)
    check("the dashboard serves its login page (a redirect from its root)",
          status == 200 and "/auth/login/" in landed and form.action is not None
          and "csrfmiddlewaretoken" in form.fields and "password" in form.fields,
          f"{status} {landed} {page[:200]!r}")
    if form.action is None:
        return
    cookies = {c.name: c for c in jar}
    check("the dashboard's CSRF cookie is for HTTPS only",
          "csrftoken" in cookies and cookies["csrftoken"].secure, f"{sorted(cookies)}")
    # Its compressed style sheet, served by uWSGI below the dashboard's path.
    css = re.search(r'href="([^"]*/static/[^"]*\.css)"', page)
    css_status = fetch(urllib.parse.urljoin(landed, css.group(1)))[0] if css else None
    check("the login page's style sheet is served", css_status == 200, f"{css and css.group(1)} {css_status}")
    fields = dict(form.fields)
    fields.update(username=env["OS_USERNAME"], password=env["OS_PASSWORD"])
    action = urllib.parse.urljoin(landed, form.action)
    # Django checks the Referer of an HTTPS form post against the host.
    status, landed, page = fetch(action, fields, referer=landed)
    cookies = {c.name: c for c in jar}
    signed_in = (status == 200 and "/auth/login/" not in landed and "sessionid" in cookies
                 and "auth/logout" in page)
    # What the login page says when it refuses (Horizon's alert, e.g. "An error occurred authenticating").
    said = re.findall(r'alert-danger">\s*<p>(.*?)</p>', page, re.S)
    check("the admin signs in to the dashboard with the openrc's password",
          signed_in, f"{status} {landed} {sorted(cookies)} {said or page[:300]!r}")
    if not signed_in:
        return
    check("the dashboard's session cookie is for HTTPS only", cookies["sessionid"].secure)
    # A page only an admin sees, on whichever node haproxy sends it to: the session is shared.
    status, landed, page = fetch(url + "admin/hypervisors/")
    check("the signed-in admin sees the dashboard's hypervisors page",
          status == 200 and "/auth/login/" not in landed and "Hypervisor" in page,
          f"{status} {landed} {page[:200]!r}")
    status, landed, _ = fetch(url + "auth/logout/")
    status, landed, _ = fetch(url)
    check("after signing out, the dashboard asks for the login again",
          status == 200 and "/auth/login/" in landed, f"{status} {landed}")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    env, cafile, what = openrc(sys.argv[1]), sys.argv[2], sys.argv[3]
    if what == "dashboard" and len(sys.argv) > 4:
        dashboard(env, cafile, sys.argv[4])
        print("api: finished", flush=True)
        sys.exit(min(checks.failures, 100))
    cloud = Cloud(env, cafile)
    if cloud.login():
        if what == "links":
            links(cloud)
        elif what == "neutron":
            neutron(cloud, int(sys.argv[4]), int(sys.argv[5]))
        else:
            print(__doc__, file=sys.stderr)
            sys.exit(2)
    print("api: finished", flush=True)
    sys.exit(min(checks.failures, 100))


if __name__ == "__main__":
    main()
