"""Issues and issue comments (relgate ops' incident issue): state changes and rendering.

Issue numbers are shared with pull requests, as on GitHub. Labels are plain names here (the fake
creates a label on first use, as GitHub does for a user with push access).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._render import JSONObject, node_id
from ._state import Issue, IssueComment

if TYPE_CHECKING:
    from ._api import Api, Reply, Request

__all__ = ["issue_handlers"]


def _label(api: Api, name: str) -> JSONObject:
    ident = 500_000 + sum(ord(c) for c in name)
    return {
        "id": ident,
        "node_id": node_id("LA", ident),
        "url": f"{api.render.repo_api}/labels/{name}",
        "name": name,
        "description": None,
        "color": "d73a4a",
        "default": False,
    }


def render_issue(api: Api, issue: Issue) -> JSONObject:
    url = f"{api.render.repo_api}/issues/{issue.number}"
    return {
        "id": issue.id,
        "node_id": node_id("I", issue.id),
        "url": url,
        "repository_url": api.render.repo_api,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{api.render.repo_web}/issues/{issue.number}",
        "number": issue.number,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "title": issue.title,
        "body": issue.body,
        "user": api.render.simple_user(issue.user),
        "labels": [_label(api, name) for name in issue.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": len(issue.comments),
        "closed_at": issue.closed_at,
        "created_at": issue.created_at,
        "updated_at": issue.updated_at,
        "author_association": "OWNER",
    }


def render_comment(api: Api, issue: Issue, comment: IssueComment) -> JSONObject:
    issue_url = f"{api.render.repo_api}/issues/{issue.number}"
    return {
        "id": comment.id,
        "node_id": node_id("IC", comment.id),
        "url": f"{api.render.repo_api}/issues/comments/{comment.id}",
        "html_url": f"{api.render.repo_web}/issues/{issue.number}#issuecomment-{comment.id}",
        "issue_url": issue_url,
        "body": comment.body,
        "user": api.render.simple_user(comment.user),
        "created_at": comment.created_at,
        "updated_at": comment.created_at,
        "author_association": "OWNER",
    }


def issue_handlers(api: Api) -> dict[str, Callable[[Request], Reply]]:
    from ._api import HTTPError, Reply, _invalid

    state = api.state

    def find(request: Request) -> Issue:
        issue = state.issues.get(int(request.params["issue_number"]))
        if issue is None:
            raise HTTPError(404, "Not Found")
        return issue

    def list_issues(request: Request) -> Reply:
        wanted = request.query.get("state", "open")
        labels = [x for x in request.query.get("labels", "").split(",") if x]
        found = [
            i for i in state.issues.values()
            if wanted in ("all", i.state) and all(label in i.labels for label in labels)
        ]  # fmt: skip
        found.sort(key=lambda i: i.number, reverse=request.query.get("direction", "desc") == "desc")
        return api.paginate(request, [render_issue(api, i) for i in found])

    def create(request: Request) -> Reply:
        body = request.json
        if not body.get("title"):
            raise _invalid("Issue", "title", "missing_field")
        now = api.now()
        issue = Issue(
            number=len(state.pulls) + len(state.issues) + 1,
            id=state.new_id(),
            title=str(body["title"]),
            body=body.get("body"),
            user=state.token_user,
            labels=[x if isinstance(x, str) else x["name"] for x in body.get("labels") or []],
            created_at=now,
            updated_at=now,
        )
        state.issues[issue.number] = issue
        rendered = render_issue(api, issue)
        return Reply(201, rendered, {"Location": rendered["url"]})

    def get(request: Request) -> Reply:
        return Reply(200, render_issue(api, find(request)))

    def update(request: Request) -> Reply:
        issue, body = find(request), request.json
        now = api.now()
        if "title" in body:
            issue.title = str(body["title"])
        if "body" in body:
            issue.body = body["body"]
        if body.get("state") in ("open", "closed") and body["state"] != issue.state:
            issue.state = body["state"]
            closed = issue.state == "closed"
            issue.closed_at = now if closed else None
            issue.state_reason = body.get("state_reason") or ("completed" if closed else "reopened")
        issue.updated_at = now
        return Reply(200, render_issue(api, issue))

    def comment(request: Request) -> Reply:
        issue = find(request)
        if not request.json.get("body"):
            raise _invalid("IssueComment", "body", "missing_field")
        note = IssueComment(
            api.state.new_id(), str(request.json["body"]), state.token_user, api.now()
        )
        issue.comments.append(note)
        issue.updated_at = note.created_at
        rendered = render_comment(api, issue, note)
        return Reply(201, rendered, {"Location": rendered["url"]})

    return {
        "issues/list-for-repo": list_issues,
        "issues/create": create,
        "issues/get": get,
        "issues/update": update,
        "issues/create-comment": comment,
    }
