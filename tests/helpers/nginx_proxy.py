"""deploy/nginx.conf filled in for a test, and Debian's nginx started on it as a user process.

Import as `from helpers.nginx_proxy import ...` (tests/ is on sys.path). The deploy file is a
template (`${ISOMIX_PROXY_LISTEN}`, `${ISOMIX_API_SERVERS}`) that the nginx image fills with
envsubst; `render` does the same here, so the tests run exactly the deployed server block,
wrapped in a main file of their own (pid, logs and temporary folders in the test's folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

TEMPLATE: Final = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NGINX_CANDIDATES: Final = ("/usr/sbin/nginx",)
_VARIABLE = re.compile(r"\$\{(ISOMIX_[A-Z_]+)\}")


def nginx_binary() -> str | None:
    for candidate in NGINX_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("nginx")


def server_lines(addresses: Sequence[str]) -> str:
    """The upstream's server lines for `host:port` addresses, as deploy/README.md writes them."""
    return " ".join(f"server {address} max_fails=0;" for address in addresses)


def render(listen: str, upstreams: Sequence[str], template: Path = TEMPLATE) -> str:
    """The deploy template with its variables filled, as envsubst would (nginx's own
    `$variables` are left alone); an unknown ${ISOMIX_...} is an error, not an empty string."""
    values = {"ISOMIX_PROXY_LISTEN": listen, "ISOMIX_API_SERVERS": server_lines(upstreams)}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{template}: no value for ${{{name}}}")
        return values[name]

    return _VARIABLE.sub(fill, template.read_text())


def write_config(directory: Path, listen: str, upstreams: Sequence[str]) -> Path:
    """A main nginx.conf in `directory` that includes the rendered deploy file."""
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory / "temp"
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / name).mkdir(parents=True, exist_ok=True)
    # Run as root, nginx's workers are `nobody`: they must be able to write their temp files.
    for path in (directory, temp, *temp.iterdir()):
        path.chmod(0o777)
    (directory / "isomix.conf").write_text(render(listen, upstreams))
    main = directory / "nginx.conf"
    main.write_text(
        f"""daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/isomix.conf;
}}
"""
    )
    return main


def check_config(binary: str, main: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the file: its return code and what it said."""
    return subprocess.run(
        [binary, "-t", "-p", str(main.parent), "-c", str(main)],
        capture_output=True,
        text=True,
        env={**os.environ},
    )


def start_nginx(binary: str, main: Path) -> subprocess.Popen[bytes]:
    with (main.parent / "stderr.log").open("wb") as log:
        return subprocess.Popen(
            [binary, "-p", str(main.parent), "-c", str(main)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
