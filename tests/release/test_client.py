"""The GitHub client boundary: retries, give-ups and error mapping, through the fake."""

from __future__ import annotations

import pytest

from relgate.errors import BadInputError, ServiceUnreachable
from relgate.github.client import GitHubClient
from relgate.github.releases import read_tag
from tests.release.conftest import Setup

REF = "/repos/{owner}/{repo}/git/ref/{ref}"


def test_5xx_retries_back_off_then_give_up(setup: Setup) -> None:
    setup.fake.fail_next("GET", REF, 503, times=50)
    client = setup.client()
    with pytest.raises(ServiceUnreachable, match="HTTP 503 after 6 attempts"):
        read_tag(client, "v1.0.0")
    assert setup.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert client.requests == 6 == len(setup.fake.requests)


def test_html_502_from_a_proxy_is_retried(setup: Setup) -> None:
    setup.fake.fail_next("GET", REF, 502, body=b"<html>Bad gateway</html>")
    assert read_tag(setup.client(), "v1.0.0") is None
    assert setup.sleeps == [1.0]


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        pytest.param(401, "Bad credentials", "rejected the token", id="401"),
        pytest.param(403, "Resource not accessible by integration", "may not do this", id="403"),
    ],
)
def test_client_errors_are_bad_input_and_not_retried(
    setup: Setup, status: int, message: str, expected: str
) -> None:
    setup.fake.fail_next("GET", REF, status, message=message)
    with pytest.raises(BadInputError, match=expected):
        read_tag(setup.client(), "v1.0.0")
    assert setup.sleeps == []


def test_token_comes_from_the_configured_variable(setup: Setup) -> None:
    setup.config.github.token_env = "RELEASE_BOT_TOKEN"
    with pytest.raises(BadInputError, match="RELEASE_BOT_TOKEN is not set"):
        GitHubClient.from_env(setup.config, setup.env)
    env = {**setup.env, "RELEASE_BOT_TOKEN": setup.env["GITHUB_TOKEN"]}
    client = GitHubClient.from_env(setup.config, env)
    assert read_tag(client, "v9.9.9") is None and client.requests == 1
