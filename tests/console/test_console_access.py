"""Who gets in: nothing but the log-in page and the health check without a session; a
cookie from another secret, an expired or logged-out session, a form without its CSRF token
and a staff member on an admin page are all refused; 20 wrong passwords lock the account."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from starlette.routing import Route

from console_world import (
    LOGIN_TOKEN,
    PASSWORDS,
    SECRET,
    Clock,
    console_client,
    csrf_of,
    db_url,
    log_in,
    run,
)
from outbound_caller.store.audit import audit_entries
from outbound_caller.store.calls import dnc_list
from outbound_caller.store.users import LOCK_AFTER, LOCK_FOR, SESSION_FOR

OPEN = {"/health", "/login"}


def _routes(client) -> list[tuple[str, str]]:
    out = []
    for route in client.app.routes:
        if isinstance(route, Route):
            path = route.path.replace("{id:int}", "1")
            out += [(m, path) for m in sorted(route.methods or []) if m != "HEAD"]
    return out


def test_every_route_but_the_log_in_page_and_health_check_needs_a_session(url: str) -> None:
    with console_client(url, Clock()) as client:
        routes = _routes(client)
        assert len(routes) >= 20
        for method, path in routes:
            response = client.request(method, path)
            if path in OPEN:
                # a log-in form with no token is refused as a form, not as a session
                assert response.status_code == (200 if method == "GET" else 403), (method, path)
            elif method == "GET":
                assert response.status_code == 303, (method, path)
                assert response.headers["location"] == f"/login?next={path}"
            else:
                assert response.status_code == 401, (method, path)
                assert response.text == "Log in first."
        assert client.get("/health").text == "ok"


def test_logging_in_gives_an_httponly_strict_cookie_and_the_pages(url: str) -> None:
    with console_client(url, Clock()) as client:
        response = log_in(client, "sam")
        assert response.status_code == 303
        assert response.headers["location"] == "/today"
        cookie = response.headers["set-cookie"]
        assert "oc_session=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert "Secure" not in cookie
        page = client.get("/today")
        assert page.status_code == 200
        assert "sam (staff)" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_behind_https_the_cookie_is_secure(url: str) -> None:
    with console_client(url, Clock(), secure=True) as client:
        assert "Secure" in log_in(client, "sam").headers["set-cookie"]


def test_a_wrong_password_is_refused_with_one_message_for_name_and_password(url: str) -> None:
    with console_client(url, Clock()) as client:
        wrong = log_in(client, "sam", "not sam's password")
        nobody = log_in(client, "nobody", "not sam's password")
        for response in (wrong, nobody):
            assert response.status_code == 401
            assert "That user name and password do not match." in response.text
            assert "oc_session" not in response.headers.get("set-cookie", "")
        assert client.get("/today").status_code == 303


def test_a_log_in_form_without_its_token_is_refused(url: str) -> None:
    with console_client(url, Clock()) as client:
        response = client.post("/login", data={"name": "sam", "password": "sam's long password"})
        assert response.status_code == 403
        assert "The form had expired" in response.text
        assert client.get("/today").status_code == 303


def test_a_session_cookie_signed_with_another_secret_is_refused(url: str) -> None:
    with console_client(url, Clock(), secret="another-secret-" + "x" * 40) as other:
        log_in(other, "sam")
        stolen = other.cookies.get("oc_session")
    assert stolen
    with console_client(url, Clock()) as client:
        client.cookies.set("oc_session", stolen)
        assert client.get("/today").status_code == 303
        client.cookies.set("oc_session", stolen[:-2] + "xx")
        assert client.get("/today").status_code == 303


def test_a_session_expires_and_logging_out_ends_it(url: str) -> None:
    clock = Clock()
    with console_client(url, clock) as client:
        log_in(client, "sam")
        assert client.get("/today").status_code == 200
        clock.advance(SESSION_FOR + timedelta(minutes=1))
        assert client.get("/today").status_code == 303

        log_in(client, "sam")
        cookie = client.cookies.get("oc_session")
        csrf = csrf_of(client)
        assert client.post("/logout", data={"csrf": csrf}).headers["location"] == "/login"
        client.cookies.set("oc_session", cookie)  # the old cookie, kept by someone
        assert client.get("/today").status_code == 303


def test_a_form_without_the_sessions_csrf_token_changes_nothing(url: str) -> None:
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        for data in ({"phone": "+14155550177"}, {"phone": "+14155550177", "csrf": "made-up"}):
            response = client.post("/do-not-call", data=data)
            assert response.status_code == 403
            assert "did not come from this console" in response.text
        assert run(url, dnc_list) == []
        response = client.post(
            "/do-not-call", data={"phone": "+14155550177", "csrf": csrf_of(client)}
        )
        assert response.status_code == 200
        assert [r.phone for r in run(url, dnc_list)] == ["+14155550177"]


ADMIN_ONLY = [
    ("GET", "/import"),
    ("POST", "/import"),
    ("POST", "/practice"),
    ("POST", "/do-not-call/remove"),
    ("GET", "/webhooks"),
    ("GET", "/users"),
    ("GET", "/audit"),
]


def test_staff_are_refused_the_admin_pages_and_admins_get_them(url: str) -> None:
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        csrf = csrf_of(client)
        for method, path in ADMIN_ONLY:
            response = client.request(
                method, path, data={"csrf": csrf} if method == "POST" else None
            )
            assert response.status_code == 403, (method, path)
            assert response.text == "This page is for the practice's admins."
        nav = client.get("/today").text
        assert 'href="/audit"' not in nav
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        for method, path in ADMIN_ONLY:
            if method == "GET":
                assert client.get(path).status_code == 200, path
        assert 'href="/audit"' in client.get("/today").text


def test_twenty_wrong_passwords_lock_the_account_for_a_while(url: str) -> None:
    clock = Clock()
    with console_client(url, clock) as client:
        for _ in range(LOCK_AFTER - 1):
            assert log_in(client, "sam", "wrong password!").status_code == 401
        locked = log_in(client, "sam", "wrong password!")
        assert locked.status_code == 403
        assert "this account is locked until 10:15" in locked.text
        # the right password does not get in while it is locked
        refused = log_in(client, "sam")
        assert refused.status_code == 403
        assert client.get("/today").status_code == 303
        # another account is not locked with it
        assert log_in(client, "ann").status_code == 303
        client.cookies.clear()
        clock.advance(LOCK_FOR + timedelta(seconds=1))
        assert log_in(client, "sam").status_code == 303
        assert client.get("/today").status_code == 200
    actions = [(e.user, e.action) for e in run(url, audit_entries)]
    assert actions.count(("sam", "refused")) == LOCK_AFTER - 1
    assert ("sam", "locked") in actions


def test_too_many_attempts_from_one_address_are_slowed_down(url: str) -> None:
    with console_client(url, Clock()) as client:
        codes = [log_in(client, f"user{i}", "wrong password!").status_code for i in range(31)]
        assert codes[:30] == [401] * 30
        assert codes[30] == 429
        assert "Too many attempts" in log_in(client, "sam").text


def test_the_health_check_says_when_the_store_is_not_ready(tmp_path: Path) -> None:
    with console_client(db_url(tmp_path), Clock()) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert SECRET not in response.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_logging_in_never_sends_the_browser_to_another_site(url: str, target: str) -> None:
    with console_client(url, Clock()) as client:
        page = client.get("/login")
        token = LOGIN_TOKEN.search(page.text)
        assert token is not None
        response = client.post(
            "/login",
            data={
                "login_token": token.group(1),
                "name": "sam",
                "password": PASSWORDS["sam"],
                "next": target,
            },
        )
    assert response.headers["location"] == "/today"


def test_after_logging_in_the_page_asked_for_is_shown(url: str) -> None:
    with console_client(url, Clock()) as client:
        page = client.get("/login?next=/campaigns")
        token = LOGIN_TOKEN.search(page.text)
        assert token is not None
        assert 'name="next" value="/campaigns"' in page.text
        response = client.post(
            "/login",
            data={
                "login_token": token.group(1),
                "name": "sam",
                "password": PASSWORDS["sam"],
                "next": "/campaigns",
            },
        )
    assert response.headers["location"] == "/campaigns"
