"""A small client of Label Studio's web login and REST API, as a browser or script uses them.

Label Studio 1.23 authenticates the API with the Django session of /user/login/ (and CSRF
token) or with personal access tokens; legacy "Token" keys are off unless an organization
enables them. The tests log in like a user does.
"""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT = 30


class LoginRefused(Exception):
    """Label Studio did not log the user in."""


class LabelStudio:
    """One browser-like session with a Label Studio server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def _csrf(self, page: str) -> str:
        """Load a form page and return the CSRF token Django set in its cookie."""
        response = self.session.get(f"{self.base_url}{page}", timeout=TIMEOUT)
        response.raise_for_status()
        return self.session.cookies["csrftoken"]

    def login(self, email: str, password: str) -> None:
        token = self._csrf("/user/login/")
        response = self.session.post(
            f"{self.base_url}/user/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.base_url}/user/login/"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if response.status_code != 302 or "sessionid" not in self.session.cookies:
            raise LoginRefused(f"login of {email}: HTTP {response.status_code}")

    def signup(self, email: str, password: str) -> requests.Response:
        """Submit the sign-up form without an invitation token, as an anonymous visitor."""
        token = self._csrf("/user/signup/")
        return self.session.post(
            f"{self.base_url}/user/signup/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{self.base_url}/user/signup/"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )

    def _headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.session.cookies.get("csrftoken", ""), "Referer": f"{self.base_url}/"}

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", params=params, headers=self._headers(), timeout=TIMEOUT)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.base_url}{path}", json=body, headers=self._headers(), timeout=TIMEOUT)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(f"{self.base_url}{path}", headers=self._headers(), timeout=TIMEOUT)
