"""deploy/nginx.conf: the rendered file passes `nginx -t`, and its numbers come from the code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from helpers.nginx_proxy import TEMPLATE, check_config, nginx_binary, render, write_config

from isomix import plans
from isomix.api.upload import CONTENT_LENGTH_SLACK


def without_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is not installed (scripts/system-deps.sh)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    # nginx -t resolves the upstream names: addresses here, compose's service names there.
    upstreams = ["127.0.0.1:8001", "127.0.0.1:8002"]
    main = write_config(tmp_path / "nginx", "127.0.0.1:8080", upstreams)
    result = check_config(binary, main)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # A broken upstream line is caught by the same check (the check can fail).
    (main.parent / "isomix.conf").write_text(
        render("127.0.0.1:8080", upstreams).replace("max_fails=0", "max_fails=none")
    )
    assert check_config(binary, main).returncode != 0


def test_body_size_is_the_largest_plan_upload_with_its_framing() -> None:
    sizes = re.findall(r"^\s*client_max_body_size (\d+);", TEMPLATE.read_text(), re.MULTILINE)
    largest = max(plan.max_upload_bytes for plan in (plans.FREE, plans.PRO))
    assert sizes == [str(largest + CONTENT_LENGTH_SLACK)]


def test_streaming_retries_and_headers() -> None:
    text = without_comments(render("80", ["api:8000", "api-2:8000"]))
    assert "server api:8000 max_fails=0; server api-2:8000 max_fails=0;" in text
    assert "proxy_request_buffering off;" in text
    # Uploads and other changes retry only on connection errors; never on an answer.
    posts = text.split("location / {", 1)[1].split("}", 2)[1]
    assert "proxy_next_upstream error timeout;" in posts
    assert "http_503" not in posts
    assert "proxy_next_upstream error timeout http_502 http_503;" in text
    events = text.split("location ~ ^/api/projects/[^/]+/events$ {", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off;" in events and "proxy_read_timeout 1h;" in events
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID", "Host"):
        assert f"proxy_set_header {header} " in text
    # The API's security headers pass as they are: nothing added or hidden here.
    assert "add_header" not in text and "proxy_hide_header" not in text
    assert "${" not in text


def test_unknown_variable_is_refused(tmp_path: Path) -> None:
    template = tmp_path / "t.conf"
    template.write_text("listen ${ISOMIX_PROXY_LISTEN}; ${ISOMIX_NOT_A_THING}")
    with pytest.raises(KeyError, match="ISOMIX_NOT_A_THING"):
        render("80", ["a:1"], template)


def test_compose_puts_nginx_in_front_of_two_api_instances() -> None:
    loaded = yaml.safe_load((TEMPLATE.parent / "docker-compose.yml").read_text())
    services = loaded["services"]
    nginx = services["nginx"]
    assert "./nginx.conf:/etc/nginx/templates/default.conf.template:ro" in nginx["volumes"]
    apis = [
        name
        for name, service in services.items()
        if service.get("command", [])[:2] == ["isomix", "serve"]
    ]
    assert len(apis) >= 2
    servers = nginx["environment"]["ISOMIX_API_SERVERS"]
    assert servers == " ".join(f"server {name}:8000 max_fails=0;" for name in apis)
    # Only nginx is published; it is the one proxy the API instances trust.
    assert all("ports" not in services[name] for name in apis)
    address = nginx["networks"]["default"]["ipv4_address"]
    trusted = loaded["x-isomix"]["environment"]["ISOMIX_TRUSTED_PROXIES"]
    assert trusted.endswith(f":-{address}}}")
    assert nginx["environment"]["ISOMIX_PROXY_LISTEN"] == "80"
