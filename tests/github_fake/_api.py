"""The fake's behaviour: one handler per GitHub operation, keyed by operationId.

Handlers receive a parsed, already contract-checked request and either return a
:class:`Reply` or raise :class:`HTTPError`; they never see HTTP. Semantics follow
GitHub's documented behaviour where it is documented and the observed behaviour where
it is reported (error texts quoted from real responses are marked "GitHub's text").
Where neither was available the choice is ours and says so.
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._contract import Operation
from ._render import JSONObject, Renderer
from ._state import (
    Asset,
    BranchPolicy,
    Deployment,
    DeploymentStatus,
    Environment,
    GitActor,
    PullRequest,
    Release,
    Reviewer,
    State,
    TagObject,
    git_sha,
)

__all__ = ["Api", "HTTPError", "Reply", "Request"]

_DOCS = "https://docs.github.com/rest"


class HTTPError(Exception):
    """An error response: GitHub's ``{"message", "documentation_url", ...}`` body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[JSONObject] | None = None,
        headers: Mapping[str, str] | None = None,
        documentation_url: str | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = dict(headers or {})
        self.documentation_url = documentation_url

    def body(self, docs_url: str) -> JSONObject:
        body: JSONObject = {
            "message": self.message,
            "documentation_url": self.documentation_url or docs_url,
            "status": str(self.status),
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _invalid(resource: str, field: str, code: str = "invalid", **extra: str) -> HTTPError:
    return HTTPError(
        422,
        "Validation Failed",
        errors=[{"resource": resource, "field": field, "code": code, **extra}],
    )


def _custom(resource: str, message: str, field: str | None = None) -> HTTPError:
    error: JSONObject = {"resource": resource, "code": "custom", "message": message}
    if field:
        error["field"] = field
    return HTTPError(422, "Validation Failed", errors=[error])


@dataclass
class Request:
    method: str
    op: Operation
    url: str  # scheme://host/path, without the query
    params: Mapping[str, str]  # decoded path parameters
    query: Mapping[str, str]
    json: Any
    body: bytes
    headers: Mapping[str, str]


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able; None means no body
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # non-JSON payload (asset bytes)


class Api:
    """Operation handlers over one :class:`State`."""

    def __init__(self, state: State, render: Renderer, now: Callable[[], str]) -> None:
        self.state = state
        self.render = render
        self.now = now
        self.handlers: dict[str, Callable[[Request], Reply]] = {
            "rate-limit/get": self.rate_limit,
            "repos/get": self.get_repo,
            "git/get-ref": self.get_ref,
            "git/list-matching-refs": self.matching_refs,
            "git/create-ref": self.create_ref,
            "git/update-ref": self.update_ref,
            "git/delete-ref": self.delete_ref,
            "git/create-tag": self.create_tag,
            "git/get-tag": self.get_tag,
            "git/get-commit": self.get_git_commit,
            "repos/get-commit": self.get_commit,
            "repos/list-releases": self.list_releases,
            "repos/create-release": self.create_release,
            "repos/get-release-by-tag": self.get_release_by_tag,
            "repos/get-release": self.get_release,
            "repos/update-release": self.update_release,
            "repos/delete-release": self.delete_release,
            "repos/list-release-assets": self.list_assets,
            "repos/upload-release-asset": self.upload_asset,
            "repos/get-release-asset": self.get_asset,
            "repos/delete-release-asset": self.delete_asset,
            "pulls/list": self.list_pulls,
            "pulls/create": self.create_pull,
            "pulls/get": self.get_pull,
            "pulls/update": self.update_pull,
            "repos/get-content": self.get_content,
            "repos/create-or-update-file-contents": self.put_content,
            "repos/get-all-environments": self.list_environments,
            "repos/get-environment": self.get_environment,
            "repos/create-or-update-environment": self.put_environment,
            "repos/list-deployment-branch-policies": self.list_branch_policies,
            "repos/create-deployment-branch-policy": self.create_branch_policy,
            "repos/get-deployment-branch-policy": self.get_branch_policy,
            "repos/delete-deployment-branch-policy": self.delete_branch_policy,
            "repos/list-deployments": self.list_deployments,
            "repos/create-deployment": self.create_deployment,
            "repos/get-deployment": self.get_deployment,
            "repos/list-deployment-statuses": self.list_deployment_statuses,
            "repos/create-deployment-status": self.create_deployment_status,
            "checks/list-for-ref": self.list_check_runs,
            "repos/get-combined-status-for-ref": self.combined_status,
            "actions/get-workflow-run": self.get_workflow_run,
            "actions/get-reviews-for-run": self.list_approvals,
            "actions/get-pending-deployments-for-run": self.list_pending_deployments,
            "users/get-by-username": self.get_user,
            "teams/get-by-name": self.get_team,
        }
        from ._issues import issue_handlers

        self.handlers.update(issue_handlers(self))

    def dispatch(self, request: Request) -> Reply:
        handler = self.handlers.get(request.op.operation_id)
        if handler is None:
            raise AssertionError(f"the fake does not implement {request.op} yet")
        if "Authorization" not in request.headers:
            # Anonymous callers may read public data only; GitHub hides private
            # repositories behind 404 rather than admitting they exist.
            if request.method != "GET":
                raise HTTPError(401, "Requires authentication")
            if self.state.private:
                raise HTTPError(404, "Not Found")
        owner, repo = request.params.get("owner"), request.params.get("repo")
        if owner is not None and (
            owner.lower() != self.state.owner.login.lower()
            or (repo or "").lower() != self.state.repo_name.lower()
        ):
            raise HTTPError(404, "Not Found")
        return handler(request)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def paginate(request: Request, items: list[Any], wrap: str | None = None) -> Reply:
        """Slice by ``page``/``per_page`` and add GitHub's ``Link`` header.

        GitHub sometimes links to ``/repositories/{id}/...`` aliases; the fake links
        to the path that was requested, which is the same resource and stays inside
        the described API.
        """
        per_page = min(int(request.query.get("per_page", 30)), 100)
        page = max(int(request.query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            query = {**request.query, "per_page": str(per_page), "page": str(number)}
            return f"<{request.url}?{urllib.parse.urlencode(query)}>"

        links = []
        if page < last:
            links += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            links += [f'{link(page - 1)}; rel="prev"', f'{link(1)}; rel="first"']
        headers = {"Link": ", ".join(links)} if links else {}
        body: Any = chunk if wrap is None else {"total_count": len(items), wrap: chunk}
        return Reply(200, body, headers)

    def _commit_or_422(self, ref: str) -> Any:
        commit = self.state.resolve_commit(ref)
        if commit is None:
            raise HTTPError(422, f"No commit found for SHA: {ref}")  # GitHub's text
        return commit

    def _release(self, request: Request) -> Release:
        release = self.state.releases.get(int(request.params["release_id"]))
        if release is None:
            raise HTTPError(404, "Not Found")
        return release

    def _environment(self, request: Request) -> Environment:
        env = self.state.environments.get(request.params["environment_name"].lower())
        if env is None:
            raise HTTPError(404, "Not Found")
        return env

    # -- meta ---------------------------------------------------------------------------

    def rate_limit(self, request: Request) -> Reply:
        del request
        core = {"limit": 5000, "remaining": 5000, "reset": 0, "used": 0}
        return Reply(200, {"resources": {"core": core, "search": core}, "rate": core})

    def get_repo(self, request: Request) -> Reply:
        del request
        return Reply(200, self.render.repository(full=True))

    # -- git data -------------------------------------------------------------------

    def get_ref(self, request: Request) -> Reply:
        name = f"refs/{request.params['ref']}"
        if name not in self.state.refs:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.git_ref(name, self.state.refs[name]))

    def matching_refs(self, request: Request) -> Reply:
        prefix = f"refs/{request.params['ref']}"
        found = [
            self.render.git_ref(name, sha)
            for name, sha in sorted(self.state.refs.items())
            if name.startswith(prefix)
        ]
        return Reply(200, found)

    def create_ref(self, request: Request) -> Reply:
        name, sha = request.json["ref"], request.json["sha"].lower()
        if not name.startswith("refs/") or name.count("/") < 2:
            # GitHub's text for a ref without "refs/" and two slashes.
            raise HTTPError(422, "Reference name is invalid")
        if name in self.state.refs:
            raise HTTPError(422, "Reference already exists")  # GitHub's text
        if self.state.object_type(sha) is None:
            raise HTTPError(422, "Object does not exist")  # GitHub's text
        if name.startswith("refs/tags/") and self.state.immutable_tag(
            name.removeprefix("refs/tags/")
        ):
            # Our wording: GitHub answers a rules violation ("Cannot create ref due to
            # creations being restricted") for tags once used by an immutable release.
            raise HTTPError(422, "Cannot create ref due to creations being restricted.")
        self.state.refs[name] = sha
        body = self.render.git_ref(name, sha)
        return Reply(201, body, {"Location": body["url"]})

    def update_ref(self, request: Request) -> Reply:
        name = f"refs/{request.params['ref']}"
        sha = request.json["sha"].lower()
        old = self.state.refs.get(name)
        if old is None:
            raise HTTPError(422, "Reference does not exist")  # GitHub's text
        if self.state.object_type(sha) is None:
            raise HTTPError(422, "Object does not exist")
        if name.startswith("refs/tags/") and self.state.immutable_tag(
            name.removeprefix("refs/tags/")
        ):
            raise HTTPError(422, "Cannot update a tag of an immutable release.")  # our wording
        force = bool(request.json.get("force", False))
        if not force and not self.state.is_ancestor(self.state.peel(old), self.state.peel(sha)):
            raise HTTPError(422, "Update is not a fast forward")  # GitHub's text
        self.state.refs[name] = sha
        return Reply(200, self.render.git_ref(name, sha))

    def delete_ref(self, request: Request) -> Reply:
        name = f"refs/{request.params['ref']}"
        if name not in self.state.refs:
            raise HTTPError(422, "Reference does not exist")  # GitHub's text
        if name.startswith("refs/tags/") and self.state.immutable_tag(
            name.removeprefix("refs/tags/")
        ):
            raise HTTPError(422, "Cannot delete a tag of an immutable release.")  # our wording
        del self.state.refs[name]
        return Reply(204)

    def create_tag(self, request: Request) -> Reply:
        body = request.json
        target = body["object"].lower()
        if self.state.object_type(target) is None:
            raise HTTPError(422, "Object does not exist")
        if body["type"] != "commit":
            # The fake models commits only; a tag of a tree or blob is not relgate's business.
            raise AssertionError(f"the fake only tags commits, not {body['type']}")
        tagger = body.get("tagger") or {"name": self.state.token_user, "email": "fake@example.com"}
        date = tagger.get("date") or self.now()
        actor = GitActor(name=tagger["name"], email=tagger["email"], date=date)
        text = (
            f"object {target}\ntype commit\ntag {body['tag']}\ntagger {actor}\n\n{body['message']}"
        )
        tag = TagObject(
            sha=git_sha("tag", text.encode()),
            tag=body["tag"],
            message=body["message"],
            object_sha=target,
            object_type="commit",
            tagger=actor,
        )
        self.state.tags[tag.sha] = tag
        rendered = self.render.git_tag(tag)
        return Reply(201, rendered, {"Location": rendered["url"]})

    def get_tag(self, request: Request) -> Reply:
        tag = self.state.tags.get(request.params["tag_sha"].lower())
        if tag is None:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.git_tag(tag))

    def get_git_commit(self, request: Request) -> Reply:
        commit = self.state.commits.get(request.params["commit_sha"].lower())
        if commit is None:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.git_commit(commit))

    def get_commit(self, request: Request) -> Reply:
        return Reply(200, self.render.commit(self._commit_or_422(request.params["ref"])))

    # -- releases -------------------------------------------------------------------

    def list_releases(self, request: Request) -> Reply:
        # Newest first, drafts included (the token can push).
        releases = sorted(
            self.state.releases.values(), key=lambda r: (r.created_at, r.id), reverse=True
        )
        return self.paginate(request, [self.render.release(r) for r in releases])

    def get_release(self, request: Request) -> Reply:
        return Reply(200, self.render.release(self._release(request)))

    def get_release_by_tag(self, request: Request) -> Reply:
        release = self.state.release_by_tag(request.params["tag"], published_only=True)
        if release is None:
            raise HTTPError(404, "Not Found")  # drafts are not found by tag
        return Reply(200, self.render.release(release))

    def create_release(self, request: Request) -> Reply:
        body = request.json
        tag = body["tag_name"]
        if tag in self.state.burned_tags:
            raise _custom("Release", "tag_name was used by an immutable release", "tag_name")
        target = body.get("target_commitish") or self.state.default_branch
        if f"refs/tags/{tag}" not in self.state.refs and self.state.resolve_commit(target) is None:
            raise _invalid("Release", "target_commitish")
        draft = bool(body.get("draft", False))
        if not draft and self.state.release_by_tag(tag, published_only=True):
            raise _invalid("Release", "tag_name", "already_exists")
        now = self.now()
        release_id = self.state.new_id()
        release = Release(
            id=release_id,
            tag_name=tag,
            target_commitish=target,
            name=body.get("name"),
            body=body.get("body"),
            draft=draft,
            prerelease=bool(body.get("prerelease", False)),
            author=self.state.token_user,
            created_at=now,
            updated_at=now,
            make_latest=body.get("make_latest", "true"),
            untagged_name=f"untagged-{git_sha('release', str(release_id).encode())[:20]}",
        )
        if body.get("generate_release_notes") and not release.body:
            release.body = f"**Full Changelog**: {self.render.repo_web}/commits/{tag}"
        if not draft:
            self._publish(release)
        self.state.releases[release.id] = release
        rendered = self.render.release(release)
        return Reply(201, rendered, {"Location": rendered["url"]})

    def _publish(self, release: Release) -> None:
        """Publishing creates the tag when missing -- a *lightweight* one at the target."""
        ref = f"refs/tags/{release.tag_name}"
        if ref not in self.state.refs:
            commit = self.state.resolve_commit(release.target_commitish)
            if commit is None:
                raise _invalid("Release", "target_commitish")
            self.state.refs[ref] = commit.sha
        release.draft = False
        release.published_at = self.now()
        release.immutable = self.state.immutable_releases

    def update_release(self, request: Request) -> Reply:
        release = self._release(request)
        body = request.json or {}
        if release.immutable:
            changed = [
                key
                for key in ("tag_name", "target_commitish")
                if key in body and body[key] != getattr(release, key)
            ]
            if body.get("draft") is True:
                changed.append("draft")
            if changed:
                # Our wording and choice: GitHub locks the tag (and so the release's
                # identity) of an immutable release; title and notes stay editable.
                raise _custom(
                    "Release", "Cannot modify the tag of an immutable release.", changed[0]
                )
        new_tag = body.get("tag_name", release.tag_name)
        publishing = release.draft and body.get("draft") is False
        if (publishing or (not release.draft and new_tag != release.tag_name)) and any(
            r.tag_name == new_tag and not r.draft and r.id != release.id
            for r in self.state.releases.values()
        ):
            raise _invalid("Release", "tag_name", "already_exists")
        if publishing and new_tag in self.state.burned_tags:
            raise _custom("Release", "tag_name was used by an immutable release", "tag_name")
        for key in ("tag_name", "target_commitish", "name", "body", "prerelease", "make_latest"):
            if key in body:
                setattr(release, key, body[key])
        if body.get("draft") is True and not release.draft:
            release.draft, release.published_at = True, None
        if publishing:
            self._publish(release)
        release.updated_at = self.now()
        return Reply(200, self.render.release(release))

    def delete_release(self, request: Request) -> Reply:
        release = self._release(request)
        if release.immutable:
            self.state.burned_tags.add(release.tag_name)
        del self.state.releases[release.id]
        return Reply(204)

    def list_assets(self, request: Request) -> Reply:
        release = self._release(request)
        return self.paginate(request, [self.render.asset(a, release) for a in release.assets])

    def upload_asset(self, request: Request) -> Reply:
        release = self._release(request)
        if release.immutable:
            raise HTTPError(422, "Cannot upload assets to an immutable release.")  # GitHub's text
        name = _sanitize_asset_name(request.query["name"])
        if any(a.name == name for a in release.assets):
            raise _invalid("ReleaseAsset", "name", "already_exists")  # GitHub's body
        now = self.now()
        asset = Asset(
            id=self.state.new_id(),
            release_id=release.id,
            name=name,
            label=request.query.get("label") or None,
            content_type=request.headers.get("Content-Type", "application/octet-stream"),
            data=request.body,
            uploader=self.state.token_user,
            created_at=now,
            updated_at=now,
        )
        release.assets.append(asset)
        return Reply(201, self.render.asset(asset, release))

    def _find_asset(self, asset_id: int) -> tuple[Asset, Release]:
        for release in self.state.releases.values():
            for asset in release.assets:
                if asset.id == asset_id:
                    return asset, release
        raise HTTPError(404, "Not Found")

    def get_asset(self, request: Request) -> Reply:
        asset, release = self._find_asset(int(request.params["asset_id"]))
        if "application/octet-stream" in request.headers.get("Accept", ""):
            # GitHub answers with a redirect to short-lived signed storage URL; the
            # client follows it (PyGithub drops the Authorization header cross-host).
            token = git_sha("signature", f"{asset.id}/{asset.download_count}".encode())[:16]
            location = f"{self.render.hosts.storage}/{self.state.repo_id}/{asset.id}?sig={token}"
            return Reply(302, None, {"Location": location})
        return Reply(200, self.render.asset(asset, release))

    def delete_asset(self, request: Request) -> Reply:
        asset, release = self._find_asset(int(request.params["asset_id"]))
        if release.immutable:
            raise HTTPError(422, "Cannot delete assets from an immutable release.")  # our wording
        release.assets.remove(asset)
        return Reply(204)

    # -- pull requests ----------------------------------------------------------------

    def _branch_of(self, head: str) -> str:
        owner, _, branch = head.rpartition(":")
        if owner and owner.lower() != self.state.owner.login.lower():
            raise _invalid("PullRequest", "head")  # forks are not modelled
        return branch

    def list_pulls(self, request: Request) -> Reply:
        state = request.query.get("state", "open")
        pulls = [p for p in self.state.pulls.values() if state in ("all", p.state)]
        if "head" in request.query:
            owner, _, branch = request.query["head"].rpartition(":")
            if owner.lower() != self.state.owner.login.lower():
                pulls = []
            pulls = [p for p in pulls if p.head == branch]
        if "base" in request.query:
            pulls = [p for p in pulls if p.base == request.query["base"]]
        reverse = request.query.get("direction", "desc") == "desc"
        pulls.sort(key=lambda p: p.number, reverse=reverse)
        return self.paginate(request, [self.render.pull_request(p, simple=True) for p in pulls])

    def create_pull(self, request: Request) -> Reply:
        body = request.json
        head = self._branch_of(body["head"])
        base = body["base"]
        head_sha, base_sha = self.state.branch_head(head), self.state.branch_head(base)
        if head_sha is None:
            raise _invalid("PullRequest", "head")
        if base_sha is None:
            raise _invalid("PullRequest", "base")
        if not body.get("title"):
            raise _invalid("Issue", "title", "missing_field")
        for pr in self.state.pulls.values():
            if pr.state == "open" and pr.head == head and pr.base == base:
                owner = self.state.owner.login
                # GitHub's text.
                raise _custom("PullRequest", f"A pull request already exists for {owner}:{head}.")
        if self.state.is_ancestor(head_sha, base_sha):
            raise _custom("PullRequest", f"No commits between {base} and {head}")  # GitHub's text
        now = self.now()
        pr = PullRequest(
            number=len(self.state.pulls) + 1,
            id=self.state.new_id(),
            title=body["title"],
            body=body.get("body"),
            head=head,
            base=base,
            user=self.state.token_user,
            created_at=now,
            updated_at=now,
            draft=bool(body.get("draft", False)),
            maintainer_can_modify=bool(body.get("maintainer_can_modify", False)),
        )
        self.state.pulls[pr.number] = pr
        rendered = self.render.pull_request(pr)
        return Reply(201, rendered, {"Location": rendered["url"]})

    def _pull(self, request: Request) -> PullRequest:
        pr = self.state.pulls.get(int(request.params["pull_number"]))
        if pr is None:
            raise HTTPError(404, "Not Found")
        return pr

    def get_pull(self, request: Request) -> Reply:
        return Reply(200, self.render.pull_request(self._pull(request)))

    def update_pull(self, request: Request) -> Reply:
        pr = self._pull(request)
        body = request.json or {}
        if "base" in body and self.state.branch_head(body["base"]) is None:
            raise _invalid("PullRequest", "base")
        for key in ("title", "body", "base", "maintainer_can_modify"):
            if key in body:
                setattr(pr, key, body[key])
        if "state" in body and body["state"] != pr.state:
            pr.state = body["state"]
            pr.closed_at = self.now() if pr.state == "closed" else None
        pr.updated_at = self.now()
        return Reply(200, self.render.pull_request(pr))

    # -- contents ---------------------------------------------------------------------

    def get_content(self, request: Request) -> Reply:
        ref = request.query.get("ref", self.state.default_branch)
        commit = self.state.resolve_commit(ref)
        if commit is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")  # GitHub's text
        path = request.params["path"].strip("/")
        if path in commit.files:
            return Reply(200, self.render.content_file(path, commit.files[path], ref))
        entries: dict[str, Any] = {}
        for name, data in commit.files.items():
            if name.startswith(path + "/"):
                first, *rest = name[len(path) + 1 :].split("/")
                child = f"{path}/{first}"
                entries[child] = (
                    self.render.directory_entry(child, ref)
                    if rest
                    else self.render.content_file(child, data, ref, with_content=False)
                )
        if not entries:
            raise HTTPError(404, "Not Found")
        return Reply(200, [entries[k] for k in sorted(entries)])

    def put_content(self, request: Request) -> Reply:
        body = request.json
        path = request.params["path"].strip("/")
        branch = body.get("branch") or self.state.default_branch
        head = self.state.branch_head(branch)
        if head is None:
            raise HTTPError(404, f"Branch {branch} not found")  # GitHub's text
        parent = self.state.commits[self.state.peel(head)]
        existing = parent.files.get(path)
        if existing is not None:
            if "sha" not in body:
                raise HTTPError(422, '"sha" wasn\'t supplied.')  # GitHub's text
            if body["sha"] != git_sha("blob", existing):
                raise HTTPError(409, f"{path} does not match {body['sha']}")  # GitHub's text
        try:
            data = base64.b64decode(body["content"], validate=True)
        except binascii.Error:
            raise _invalid("Content", "content") from None
        who = (
            body.get("committer")
            or body.get("author")
            or {
                "name": self.state.token_user,
                "email": "fake@example.com",
            }
        )
        commit = self.state.add_commit(
            message=body["message"],
            parents=[parent.sha],
            files={**parent.files, path: data},
            author=GitActor(
                name=who["name"], email=who["email"], date=who.get("date") or self.now()
            ),
        )
        self.state.refs[f"refs/heads/{branch}"] = commit.sha
        git_commit = self.render.git_commit(commit)
        content = self.render.content_file(path, data, branch, with_content=False)
        return Reply(201 if existing is None else 200, {"content": content, "commit": git_commit})

    # -- environments -----------------------------------------------------------------

    def list_environments(self, request: Request) -> Reply:
        envs = sorted(self.state.environments.values(), key=lambda e: e.name.lower())
        return self.paginate(request, [self.render.environment(e) for e in envs], "environments")

    def get_environment(self, request: Request) -> Reply:
        return Reply(200, self.render.environment(self._environment(request)))

    def put_environment(self, request: Request) -> Reply:
        """Create or update. Fields left out keep their value (our reading of the docs)."""
        name = request.params["environment_name"]
        body = request.json or {}
        now = self.now()
        env = self.state.environments.get(name.lower())
        if env is None:
            env = Environment(id=self.state.new_id(), name=name, created_at=now, updated_at=now)
        reviewers = [
            Reviewer(type=r.get("type", "User"), id=r.get("id", 0))
            for r in body.get("reviewers") or []
        ]
        for reviewer in reviewers:
            known = (
                self.state.users.values() if reviewer.type == "User" else self.state.teams.values()
            )
            if not any(x.id == reviewer.id for x in known):
                raise _invalid("Environment", "reviewers")
        if len(reviewers) > 6:
            raise _invalid("Environment", "reviewers")
        policy = body.get("deployment_branch_policy", env.deployment_branch_policy)
        if policy and policy["protected_branches"] == policy["custom_branch_policies"]:
            # GitHub refuses both true (and both false is meaningless: send null).
            raise _invalid("Environment", "deployment_branch_policy")
        if "wait_timer" in body:
            env.wait_timer = body["wait_timer"]
        if "prevent_self_review" in body:
            env.prevent_self_review = body["prevent_self_review"]
        if "reviewers" in body:
            env.reviewers = reviewers
        env.deployment_branch_policy = policy
        if not policy or not policy["custom_branch_policies"]:
            env.branch_policies = []
        env.updated_at = now
        self.state.environments[name.lower()] = env
        return Reply(200, self.render.environment(env))

    def list_branch_policies(self, request: Request) -> Reply:
        env = self._environment(request)
        policies = [self._policy_json(request, p) for p in env.branch_policies]
        return self.paginate(request, policies, "branch_policies")

    def _policy_json(self, request: Request, policy: BranchPolicy) -> JSONObject:
        del request
        return {
            "id": policy.id,
            "node_id": f"DBP_kwDO{policy.id}",
            "name": policy.name,
            "type": policy.type,
        }

    def create_branch_policy(self, request: Request) -> Reply:
        env = self._environment(request)
        policy_setting = env.deployment_branch_policy or {}
        if not policy_setting.get("custom_branch_policies"):
            # Documented: 404 when custom_branch_policies is false.
            raise HTTPError(404, "Not Found")
        name, kind = request.json["name"], request.json.get("type", "branch")
        for existing in env.branch_policies:
            if existing.name == name and existing.type == kind:
                # Documented: 303 when the same pattern already exists.
                location = f"{request.url}/{existing.id}"
                return Reply(303, None, {"Location": location})
        policy = BranchPolicy(id=self.state.new_id(), name=name, type=kind)
        env.branch_policies.append(policy)
        return Reply(200, self._policy_json(request, policy))

    def get_branch_policy(self, request: Request) -> Reply:
        env = self._environment(request)
        policy_id = int(request.params["branch_policy_id"])
        for policy in env.branch_policies:
            if policy.id == policy_id:
                return Reply(200, self._policy_json(request, policy))
        raise HTTPError(404, "Not Found")

    def delete_branch_policy(self, request: Request) -> Reply:
        env = self._environment(request)
        policy_id = int(request.params["branch_policy_id"])
        before = len(env.branch_policies)
        env.branch_policies = [p for p in env.branch_policies if p.id != policy_id]
        if len(env.branch_policies) == before:
            raise HTTPError(404, "Not Found")
        return Reply(204)

    # -- checks and statuses ----------------------------------------------------------

    # -- deployments --------------------------------------------------------------------

    def list_deployments(self, request: Request) -> Reply:
        found = list(reversed(self.state.deployments))  # newest first, as GitHub lists them
        for key in ("sha", "ref", "task", "environment"):
            if key in request.query:
                found = [d for d in found if getattr(d, key) == request.query[key]]
        return self.paginate(request, [self.render.deployment(d) for d in found])

    def create_deployment(self, request: Request) -> Reply:
        body = request.json
        ref = body["ref"]
        commit = self.state.resolve_commit(ref)
        if commit is None:
            raise HTTPError(422, f"No ref found for: {ref}")  # GitHub's text
        contexts = body.get("required_contexts")
        if contexts is None:  # GitHub verifies every context of the commit unless told otherwise
            latest = {s.context: s.state for s in self.state.statuses if s.sha == commit.sha}
            contexts = list(latest)
            failing = [c for c, state in latest.items() if state != "success"]
        else:
            latest = {s.context: s.state for s in self.state.statuses if s.sha == commit.sha}
            failing = [c for c in contexts if latest.get(c) != "success"]
        if failing:
            raise HTTPError(409, f"Conflict: Commit status checks failed for {ref}.")
        environment = body.get("environment", "production")
        deployment = Deployment(
            id=self.state.new_id(),
            sha=commit.sha,
            ref=ref,
            task=body.get("task", "deploy"),
            environment=environment,
            payload=body.get("payload", ""),
            description=body.get("description", ""),
            creator=self.state.token_user,
            created_at=self.now(),
            transient_environment=bool(body.get("transient_environment", False)),
            production_environment=bool(
                body.get("production_environment", environment == "production")
            ),
        )
        self.state.deployments.append(deployment)
        return Reply(201, self.render.deployment(deployment))

    def _deployment(self, request: Request) -> Deployment:
        wanted = int(request.params["deployment_id"])
        for d in self.state.deployments:
            if d.id == wanted:
                return d
        raise HTTPError(404, "Not Found")

    def get_deployment(self, request: Request) -> Reply:
        return Reply(200, self.render.deployment(self._deployment(request)))

    def list_deployment_statuses(self, request: Request) -> Reply:
        d = self._deployment(request)
        items = [self.render.deployment_status(d, st) for st in reversed(d.statuses)]
        return self.paginate(request, items)

    def create_deployment_status(self, request: Request) -> Reply:
        d = self._deployment(request)
        body = request.json
        environment = body.get("environment") or (
            d.statuses[-1].environment if d.statuses else d.environment
        )
        log_url = body.get("log_url") or body.get("target_url") or ""
        status = DeploymentStatus(
            id=self.state.new_id(),
            state=body["state"],
            description=body.get("description", ""),
            environment=environment,
            environment_url=body.get("environment_url", ""),
            log_url=log_url,
            creator=self.state.token_user,
            created_at=self.now(),
        )
        d.statuses.append(status)
        if status.state == "success" and body.get("auto_inactive", True):
            # GitHub's rule: prior successful deployments of the same environment become
            # inactive, except transient and production ones.
            for other in self.state.deployments:
                if (
                    other is not d
                    and other.environment == d.environment
                    and other.state == "success"
                    and not other.transient_environment
                    and not other.production_environment
                ):
                    other.statuses.append(
                        DeploymentStatus(
                            id=self.state.new_id(),
                            state="inactive",
                            description="",
                            environment=other.environment,
                            environment_url="",
                            log_url="",
                            creator=self.state.token_user,
                            created_at=self.now(),
                        )
                    )
        return Reply(201, self.render.deployment_status(d, status))

    def list_check_runs(self, request: Request) -> Reply:
        commit = self._commit_or_422(request.params["ref"])
        runs = [r for r in self.state.check_runs if r.head_sha == commit.sha]
        if "check_name" in request.query:
            runs = [r for r in runs if r.name == request.query["check_name"]]
        if "status" in request.query:
            runs = [r for r in runs if r.status == request.query["status"]]
        if request.query.get("filter", "latest") == "latest":
            latest: dict[str, Any] = {}
            for run in runs:  # seeded in time order: the last one per name wins
                latest[run.name] = run
            runs = list(latest.values())
        runs.sort(key=lambda r: r.id, reverse=True)
        return self.paginate(request, [self.render.check_run(r) for r in runs], "check_runs")

    def combined_status(self, request: Request) -> Reply:
        commit = self.state.resolve_commit(request.params["ref"])
        if commit is None:
            raise HTTPError(404, "Not Found")
        latest: dict[str, Any] = {}
        for status in self.state.statuses:
            if status.sha == commit.sha:
                latest[status.context] = status
        states = {s.state for s in latest.values()}
        if states & {"error", "failure"}:
            combined = "failure"
        elif not states or "pending" in states:
            combined = "pending"
        else:
            combined = "success"
        page = self.paginate(request, [self.render.status(s) for s in latest.values()])
        body = {
            "state": combined,
            "statuses": page.body,
            "sha": commit.sha,
            "total_count": len(latest),
            "repository": self.render.minimal_repository(),
            "commit_url": f"{self.render.repo_api}/commits/{commit.sha}",
            "url": f"{self.render.repo_api}/commits/{commit.sha}/status",
        }
        return Reply(200, body, page.headers)

    # -- actions ----------------------------------------------------------------------

    def get_workflow_run(self, request: Request) -> Reply:
        run = self.state.workflow_runs.get(int(request.params["run_id"]))
        if run is None:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.workflow_run(run))

    def list_approvals(self, request: Request) -> Reply:
        run_id = int(request.params["run_id"])
        if run_id not in self.state.workflow_runs:
            raise HTTPError(404, "Not Found")
        approvals = [a for a in self.state.approvals if a.run_id == run_id]
        return Reply(200, [self.render.approval(a) for a in approvals])

    def list_pending_deployments(self, request: Request) -> Reply:
        run_id = int(request.params["run_id"])
        if run_id not in self.state.workflow_runs:
            raise HTTPError(404, "Not Found")
        pending = [p for p in self.state.pending_deployments if p.run_id == run_id]
        return Reply(200, [self.render.pending_deployment(p) for p in pending])

    # -- people -----------------------------------------------------------------------

    def get_user(self, request: Request) -> Reply:
        user = self.state.users.get(request.params["username"].lower())
        if user is None:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.public_user(user))

    def get_team(self, request: Request) -> Reply:
        key = (request.params["org"].lower(), request.params["team_slug"].lower())
        team = self.state.teams.get(key)
        if team is None:
            raise HTTPError(404, "Not Found")
        return Reply(200, self.render.team(team, full=True))


def _sanitize_asset_name(name: str) -> str:
    """Approximate GitHub's renaming of asset names.

    Documented: "GitHub renames asset filenames that have special characters,
    non-alphanumeric characters, and leading or trailing periods". The exact rule is
    not published; the fake replaces characters outside ``[A-Za-z0-9._+-]`` with "."
    and strips leading/trailing periods, which is what is commonly observed for spaces.
    """
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._+-") else "." for c in name)
    return cleaned.strip(".") or "default"
