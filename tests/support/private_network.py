"""Cache control from a non-loopback address, without any traffic leaving the machine.

Run as ``unshare --net python -m tests.support.private_network WORKDIR``: in a
network namespace of its own, the loopback interface also gets ADDRESS (a
documentation address), groxpi listens on 0.0.0.0, and requests to ADDRESS
reach it with ADDRESS as their peer. Prints the status of each request as JSON.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt

from tests.support.server import run_groxpi

ADDRESS = "198.51.100.7"
TOKEN = "remote-admin-token"
USER = {"Authorization": "Basic " + base64.b64encode(b"alice:wonder land").decode()}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def status(url: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, method="DELETE", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def main(workdir: Path) -> dict[str, dict[str, int]]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
    htpasswd = workdir / "htpasswd"
    hashed = bcrypt.hashpw(b"wonder land", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"alice:{hashed}\n")
    base = {"GROXPI_HOST": "0.0.0.0", "GROXPI_OFFLINE": "true"}
    setups = {
        "token": {"GROXPI_ADMIN_TOKEN": TOKEN},
        "token+auth": {"GROXPI_ADMIN_TOKEN": TOKEN, "GROXPI_AUTH_FILE": str(htpasswd)},
        "no-token": {},
        "no-token+auth": {"GROXPI_AUTH_FILE": str(htpasswd)},
    }
    results: dict[str, dict[str, int]] = {}
    for name, env in setups.items():
        with run_groxpi({**base, **env}, workdir / name) as server:
            remote = f"http://{ADDRESS}:{server.port}/cache/list"
            local = f"http://127.0.0.1:{server.port}/cache/list"
            results[name] = {
                "remote": status(remote, {}),
                "remote+token": status(remote, BEARER),
                "remote+user": status(remote, USER),
                "local": status(local, {}),
                "local+user": status(local, USER),
            }
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
