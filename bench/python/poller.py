"""Reference poller: what Python-based SOAR integrations do for Defender XDR incidents.

Same work as the connector: a client-credentials token per tenant, then
GET /v1.0/security/incidents?$expand=alerts&$filter=lastUpdateDateTime ge <backfill>&$top=50 and
every @odata.nextLink, JSON-decoding each page and mapping each incident's severity to a score.
Uses `requests` (one Session per tenant, keep-alive) when installed, else urllib from the
standard library. Prints {"records": N, "seconds": S, "client": "..."} on stdout.
"""
import json
import sys
import time
import urllib.parse

try:
    import requests  # the usual choice of SOAR integrations
except ImportError:  # pragma: no cover - depends on the machine
    requests = None
    import urllib.request

SCORES = {"informational": 0, "low": 10, "medium": 40, "high": 70, "critical": 90}


def score(severity):
    return SCORES.get((severity or "").lower(), 40)


class Client:
    def __init__(self):
        self.session = requests.Session() if requests else None

    def post_form(self, url, form):
        if self.session:
            r = self.session.post(url, data=form)
            r.raise_for_status()
            return r.json()
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(urllib.request.Request(url, data=data)) as r:
            return json.loads(r.read())

    def get_json(self, url, headers):
        if self.session:
            r = self.session.get(url, headers=headers)
            r.raise_for_status()
            return r.json()
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
            return json.loads(r.read())


def poll(base, tenant):
    client = Client()
    token = client.post_form(
        f"{base}/{tenant['tenant_id']}/oauth2/v2.0/token",
        {
            "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"],
            "scope": f"{base}/.default",
            "grant_type": "client_credentials",
        },
    )["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Prefer": "include-unknown-enum-members"}
    since = "2000-01-01T00:00:00.0000000Z"  # the bench's fixed backfill, as the connector's
    url = f"{base}/v1.0/security/incidents?" + urllib.parse.urlencode(
        {"$expand": "alerts", "$filter": f"lastUpdateDateTime ge {since}", "$top": "50"}
    )
    n = 0
    while url:
        page = client.get_json(url, headers)
        for incident in page["value"]:
            incident["score"] = score(incident.get("severity"))
            n += 1
        url = page.get("@odata.nextLink")
    return n


def main():
    spec = json.load(open(sys.argv[1]))
    start = time.perf_counter()
    n = sum(poll(spec["base"], t) for t in spec["tenants"])
    seconds = time.perf_counter() - start
    client_name = f"requests {requests.__version__}" if requests else "urllib (requests is not installed)"
    print(json.dumps({"records": n, "seconds": seconds, "client": client_name}))


if __name__ == "__main__":
    main()
