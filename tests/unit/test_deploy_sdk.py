"""The Docker SDK boundary both drivers share: which failures become ServiceUnreachable (exit 3,
naming the engine and how to start it) and which pass through; the engine's timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import docker.errors
import pytest
import requests
import requests.exceptions

from relgate.deploy.sdk import docker_errors, parse_time
from relgate.errors import ServiceUnreachable


def _api_error(status: int) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"HTTP {status}", response=response)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(docker.errors.DockerException("no socket"), id="docker-exception"),
        pytest.param(requests.exceptions.ConnectionError("refused"), id="connection-refused"),
        pytest.param(_api_error(500), id="api-500"),
        pytest.param(_api_error(503), id="api-503"),
    ],
)
def test_outages_become_service_unreachable(exc: Exception) -> None:
    with pytest.raises(ServiceUnreachable) as caught, docker_errors("unix:///x.sock"):
        raise exc
    assert caught.value.message.startswith(
        "Docker daemon not reachable at unix:///x.sock: start dockerd or set DOCKER_HOST ("
    )
    assert caught.value.__cause__ is exc


def test_the_swarm_manager_is_named_as_such() -> None:
    with (
        pytest.raises(
            ServiceUnreachable,
            match=r"^Docker swarm manager not reachable at tcp://m:2375: start it or set DOCKER_HOST",
        ),
        docker_errors("tcp://m:2375", engine="Docker swarm manager", start="start it"),
    ):
        raise docker.errors.DockerException("down")


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(_api_error(404), id="api-404-not-found"),
        pytest.param(_api_error(409), id="api-409-conflict"),
        pytest.param(ValueError("ours"), id="not-docker"),
    ],
)
def test_refusals_and_other_errors_pass_through(exc: Exception) -> None:
    with pytest.raises(type(exc)) as caught, docker_errors("unix:///x.sock"):
        raise exc
    assert caught.value is exc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "2026-12-01T19:58:07.123456789Z",
            datetime(2026, 12, 1, 19, 58, 7, 123456, tzinfo=UTC).timestamp(),
            id="nanoseconds-utc",
        ),
        pytest.param(
            "2026-12-01T20:58:07+01:00",
            datetime(2026, 12, 1, 19, 58, 7, tzinfo=UTC).timestamp(),
            id="offset-no-fraction",
        ),
        pytest.param("0001-01-01T00:00:00Z", None, id="zero-time"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("yesterday", None, id="garbage"),
    ],
)
def test_parse_time(text: str | None, expected: float | None) -> None:
    assert parse_time(text) == expected
