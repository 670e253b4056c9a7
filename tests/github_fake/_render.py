"""JSON representations of the fake's state, shaped like GitHub's.

Every builder here produces exactly the fields the OpenAPI description documents for
that schema (strict validation rejects extras), with URLs derived from the configured
hosts so that PyGithub follows them back into the fake -- including ``upload_url`` on
the uploads host and GitHub Enterprise's ``/api/v3`` prefix.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ._state import (
    Approval,
    Asset,
    CheckRun,
    Commit,
    CommitStatus,
    Deployment,
    DeploymentStatus,
    Environment,
    GitActor,
    PendingDeployment,
    PullRequest,
    Release,
    Reviewer,
    State,
    TagObject,
    Team,
    User,
    WorkflowRun,
    git_sha,
)

__all__ = ["Hosts", "Renderer"]

JSONObject = dict[str, Any]


@dataclass(frozen=True)
class Hosts:
    """Base URLs of the fake, without trailing slash."""

    api: str  # https://api.github.com or https://ghe.example.com/api/v3
    uploads: str  # https://uploads.github.com or https://ghe.example.com/api/uploads
    web: str  # https://github.com or https://ghe.example.com
    storage: str  # where asset downloads are redirected to


def node_id(prefix: str, number: int) -> str:
    """Opaque global ids in GitHub's style ("RE_kwDO..."): prefix + base64 of the id."""
    return f"{prefix}_kwDO{base64.b64encode(str(number).encode()).decode().rstrip('=')}"


class Renderer:
    """Turns state objects into response bodies."""

    def __init__(self, state: State, hosts: Hosts) -> None:
        self.state = state
        self.hosts = hosts

    @property
    def repo_api(self) -> str:
        return f"{self.hosts.api}/repos/{self.state.full_name}"

    @property
    def repo_web(self) -> str:
        return f"{self.hosts.web}/{self.state.full_name}"

    # -- users and teams ------------------------------------------------------------

    def simple_user(self, user: User | str) -> JSONObject:
        if isinstance(user, str):
            user = self.state.user(user)
        api = f"{self.hosts.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id("U", user.id),
            "avatar_url": f"{self.hosts.web}/avatars/u/{user.id}",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.hosts.web}/{user.login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "site_admin": False,
            "user_view_type": "public",
        }

    def public_user(self, user: User) -> JSONObject:
        body = self.simple_user(user)
        body.update(
            name=user.name,
            company=None,
            blog="",
            location=None,
            email=user.email,
            hireable=None,
            bio=None,
            twitter_username=None,
            public_repos=1,
            public_gists=0,
            followers=0,
            following=0,
            created_at=self.state.created_at,
            updated_at=self.state.created_at,
        )
        return body

    def team(self, team: Team, *, full: bool = False) -> JSONObject:
        api = f"{self.hosts.api}/organizations/{self.state.user(team.org).id}/team/{team.id}"
        body: JSONObject = {
            "id": team.id,
            "node_id": node_id("T", team.id),
            "url": api,
            "html_url": f"{self.hosts.web}/orgs/{team.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "type": "organization",
            "parent": None,
        }
        if full:
            body.update(
                members_count=1,
                repos_count=1,
                created_at=self.state.created_at,
                updated_at=self.state.created_at,
                organization=self.team_organization(team.org),
            )
        return body

    def team_organization(self, login: str) -> JSONObject:
        org = self.state.user(login)
        api = f"{self.hosts.api}/orgs/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": node_id("O", org.id),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.hosts.web}/avatars/u/{org.id}",
            "description": None,
            "html_url": f"{self.hosts.web}/{org.login}",
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": 1,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "type": "Organization",
            "created_at": self.state.created_at,
            "updated_at": self.state.created_at,
            "archived_at": None,
        }

    def reviewer(self, reviewer: Reviewer) -> JSONObject:
        if reviewer.type == "Team":
            team = next(t for t in self.state.teams.values() if t.id == reviewer.id)
            return {"type": "Team", "reviewer": self.team(team)}
        user = next(u for u in self.state.users.values() if u.id == reviewer.id)
        return {"type": "User", "reviewer": self.simple_user(user)}

    # -- repository -----------------------------------------------------------------

    def minimal_repository(self) -> JSONObject:
        api, web, s = self.repo_api, self.repo_web, self.state
        templated = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        body: JSONObject = {key: api + suffix for key, suffix in templated.items()}
        body.update(
            id=s.repo_id,
            node_id=node_id("R", s.repo_id),
            name=s.repo_name,
            full_name=s.full_name,
            owner=self.simple_user(s.owner),
            private=s.private,
            html_url=web,
            description=None,
            fork=False,
            url=api,
        )
        return body

    def repository(self, *, full: bool = False) -> JSONObject:
        s = self.state
        host = self.hosts.web.split("://", 1)[1]
        body = self.minimal_repository()
        body.update(
            clone_url=f"{self.repo_web}.git",
            git_url=f"git://{host}/{s.full_name}.git",
            ssh_url=f"git@{host}:{s.full_name}.git",
            svn_url=self.repo_web,
            mirror_url=None,
            homepage=None,
            language="Python",
            default_branch=s.default_branch,
            forks=0,
            forks_count=0,
            stargazers_count=0,
            watchers=0,
            watchers_count=0,
            size=1,
            open_issues=len([p for p in s.pulls.values() if p.state == "open"]),
            has_issues=True,
            has_projects=False,
            has_wiki=False,
            has_pages=False,
            has_downloads=True,
            has_discussions=False,
            archived=False,
            disabled=False,
            visibility="private" if s.private else "public",
            license=None,
            topics=[],
            pushed_at=s.created_at,
            created_at=s.created_at,
            updated_at=s.created_at,
        )
        body["open_issues_count"] = body["open_issues"]
        if full:
            body.update(network_count=0, subscribers_count=0)
        return body

    # -- git data -------------------------------------------------------------------

    def git_ref(self, name: str, sha: str) -> JSONObject:
        kind = self.state.object_type(sha) or "commit"
        plural = "tags" if kind == "tag" else "commits"
        return {
            "ref": name,
            "node_id": node_id("REF", int(git_sha("ref", name.encode())[:8], 16)),
            "url": f"{self.repo_api}/git/{name}",
            "object": {"type": kind, "sha": sha, "url": f"{self.repo_api}/git/{plural}/{sha}"},
        }

    @staticmethod
    def actor(actor: GitActor) -> JSONObject:
        return {"name": actor.name, "email": actor.email, "date": actor.date}

    @staticmethod
    def unsigned() -> JSONObject:
        return {
            "verified": False,
            "reason": "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        }

    def git_tag(self, tag: TagObject) -> JSONObject:
        plural = "tags" if tag.object_type == "tag" else "commits"
        return {
            "node_id": node_id("TAG", int(tag.sha[:8], 16)),
            "tag": tag.tag,
            "sha": tag.sha,
            "url": f"{self.repo_api}/git/tags/{tag.sha}",
            "message": tag.message,
            "tagger": self.actor(tag.tagger),
            "object": {
                "type": tag.object_type,
                "sha": tag.object_sha,
                "url": f"{self.repo_api}/git/{plural}/{tag.object_sha}",
            },
            "verification": self.unsigned(),
        }

    def git_commit(self, commit: Commit) -> JSONObject:
        return {
            "sha": commit.sha,
            "node_id": node_id("C", int(commit.sha[:8], 16)),
            "url": f"{self.repo_api}/git/commits/{commit.sha}",
            "html_url": f"{self.repo_web}/commit/{commit.sha}",
            "author": self.actor(commit.author),
            "committer": self.actor(commit.committer),
            "message": commit.message,
            "tree": {"sha": commit.tree_sha, "url": f"{self.repo_api}/git/trees/{commit.tree_sha}"},
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.repo_api}/git/commits/{p}",
                    "html_url": f"{self.repo_web}/commit/{p}",
                }
                for p in commit.parents
            ],
            "verification": self.unsigned(),
        }

    def commit(self, commit: Commit) -> JSONObject:
        """The ``commit`` schema (``GET /repos/{owner}/{repo}/commits/{ref}``)."""
        git = {
            "url": f"{self.repo_api}/git/commits/{commit.sha}",
            "author": self.actor(commit.author),
            "committer": self.actor(commit.committer),
            "message": commit.message,
            "comment_count": 0,
            "tree": {"sha": commit.tree_sha, "url": f"{self.repo_api}/git/trees/{commit.tree_sha}"},
            "verification": self.unsigned(),
        }
        author = self._account_for_email(commit.author.email)
        committer = self._account_for_email(commit.committer.email)
        return {
            "sha": commit.sha,
            "node_id": node_id("C", int(commit.sha[:8], 16)),
            "url": f"{self.repo_api}/commits/{commit.sha}",
            "html_url": f"{self.repo_web}/commit/{commit.sha}",
            "comments_url": f"{self.repo_api}/commits/{commit.sha}/comments",
            "commit": git,
            "author": author,
            "committer": committer,
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.repo_api}/commits/{p}",
                    "html_url": f"{self.repo_web}/commit/{p}",
                }
                for p in commit.parents
            ],
            "stats": {"additions": 0, "deletions": 0, "total": 0},
            "files": [],
        }

    def _account_for_email(self, email: str) -> JSONObject | None:
        for user in self.state.users.values():
            if user.email and user.email.lower() == email.lower():
                return self.simple_user(user)
        return None  # GitHub sends null when no account owns the address

    # -- releases -------------------------------------------------------------------

    def asset(self, asset: Asset, release: Release) -> JSONObject:
        tag = release.untagged_name if release.draft else release.tag_name
        return {
            "url": f"{self.repo_api}/releases/assets/{asset.id}",
            "browser_download_url": f"{self.repo_web}/releases/download/{tag}/{asset.name}",
            "id": asset.id,
            "node_id": node_id("RA", asset.id),
            "name": asset.name,
            "label": asset.label,
            "state": "uploaded",
            "content_type": asset.content_type,
            "size": len(asset.data),
            "digest": asset.digest,
            "download_count": asset.download_count,
            "created_at": asset.created_at,
            "updated_at": asset.updated_at,
            "uploader": self.simple_user(asset.uploader),
        }

    def release(self, release: Release) -> JSONObject:
        api = f"{self.repo_api}/releases/{release.id}"
        tag_path = release.untagged_name if release.draft else release.tag_name
        archive = None if release.draft else release.tag_name
        return {
            "url": api,
            "html_url": f"{self.repo_web}/releases/tag/{tag_path}",
            "assets_url": f"{api}/assets",
            "upload_url": (
                f"{self.hosts.uploads}/repos/{self.state.full_name}"
                f"/releases/{release.id}/assets{{?name,label}}"
            ),
            "tarball_url": archive and f"{self.repo_api}/tarball/{archive}",
            "zipball_url": archive and f"{self.repo_api}/zipball/{archive}",
            "id": release.id,
            "node_id": node_id("RE", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "immutable": release.immutable,
            "created_at": release.created_at,
            "updated_at": release.updated_at,
            "published_at": release.published_at,
            "author": self.simple_user(release.author),
            "assets": [self.asset(a, release) for a in release.assets],
        }

    # -- pull requests and contents ---------------------------------------------------

    def pull_request(self, pr: PullRequest, *, simple: bool = False) -> JSONObject:
        """``pull-request``, or ``pull-request-simple`` (lists) without the detail counters."""
        api = f"{self.repo_api}/pulls/{pr.number}"
        issue = f"{self.repo_api}/issues/{pr.number}"
        html = f"{self.repo_web}/pull/{pr.number}"
        head_sha = self.state.branch_head(pr.head) or ""
        repo = self.repository()

        def side(branch: str, sha: str) -> JSONObject:
            return {
                "label": f"{self.state.owner.login}:{branch}",
                "ref": branch,
                "sha": sha,
                "user": self.simple_user(self.state.owner),
                "repo": repo,
            }

        body: JSONObject = {
            "url": api,
            "id": pr.id,
            "node_id": node_id("PR", pr.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": f"{self.repo_api}/pulls/comments{{/number}}",
            "comments_url": f"{issue}/comments",
            "statuses_url": f"{self.repo_api}/statuses/{head_sha}",
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self.simple_user(pr.user),
            "body": pr.body,
            "labels": [],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": pr.created_at,
            "updated_at": pr.updated_at,
            "closed_at": pr.closed_at,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(pr.head, head_sha),
            "base": side(pr.base, self.state.branch_head(pr.base) or ""),
            "_links": {
                "self": {"href": api},
                "html": {"href": html},
                "issue": {"href": issue},
                "comments": {"href": f"{issue}/comments"},
                "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": f"{self.repo_api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": f"{self.repo_api}/statuses/{head_sha}"},
            },
            "author_association": "OWNER",
            "auto_merge": None,
            "draft": pr.draft,
        }
        if simple:
            return body
        body.update(
            {
                "merged": False,
                "mergeable": None,
                "rebaseable": None,
                "mergeable_state": "unknown",
                "merged_by": None,
                "comments": 0,
                "review_comments": 0,
                "maintainer_can_modify": pr.maintainer_can_modify,
                "commits": 1,
                "additions": 0,
                "deletions": 0,
                "changed_files": 0,
            }
        )
        return body

    def content_file(
        self, path: str, data: bytes, ref: str, *, with_content: bool = True
    ) -> JSONObject:
        sha = git_sha("blob", data)
        api = f"{self.repo_api}/contents/{path}?ref={ref}"
        html = f"{self.repo_web}/blob/{ref}/{path}"
        git = f"{self.repo_api}/git/blobs/{sha}"
        body: JSONObject = {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(data),
            "url": api,
            "html_url": html,
            "git_url": git,
            "download_url": f"{self.hosts.web}/raw/{self.state.full_name}/{ref}/{path}",
            "_links": {"self": api, "git": git, "html": html},
        }
        if with_content:
            # GitHub wraps base64 at 60 characters with "\n", like `base64 -w 60`.
            encoded = base64.b64encode(data).decode()
            body["content"] = "".join(
                encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60)
            )
            body["encoding"] = "base64"
        return body

    def directory_entry(self, path: str, ref: str) -> JSONObject:
        api = f"{self.repo_api}/contents/{path}?ref={ref}"
        html = f"{self.repo_web}/tree/{ref}/{path}"
        sha = git_sha("tree", path.encode())
        git = f"{self.repo_api}/git/trees/{sha}"
        return {
            "type": "dir",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": 0,
            "url": api,
            "html_url": html,
            "git_url": git,
            "download_url": None,
            "_links": {"self": api, "git": git, "html": html},
        }

    # -- environments ---------------------------------------------------------------

    def environment(self, env: Environment) -> JSONObject:
        rules: list[JSONObject] = []
        if env.wait_timer:
            rule_id = env.rule_ids.setdefault("wait_timer", self.state.new_id())
            rules.append(
                {
                    "id": rule_id,
                    "node_id": node_id("GA", rule_id),
                    "type": "wait_timer",
                    "wait_timer": env.wait_timer,
                }
            )
        if env.reviewers:
            rule_id = env.rule_ids.setdefault("required_reviewers", self.state.new_id())
            rules.append(
                {
                    "id": rule_id,
                    "node_id": node_id("GA", rule_id),
                    "type": "required_reviewers",
                    "prevent_self_review": env.prevent_self_review,
                    "reviewers": [self.reviewer(r) for r in env.reviewers],
                }
            )
        if env.deployment_branch_policy is not None:
            rule_id = env.rule_ids.setdefault("branch_policy", self.state.new_id())
            rules.append(
                {"id": rule_id, "node_id": node_id("GA", rule_id), "type": "branch_policy"}
            )
        return {
            "id": env.id,
            "node_id": node_id("EN", env.id),
            "name": env.name,
            "url": f"{self.repo_api}/environments/{env.name}",
            "html_url": f"{self.repo_web}/deployments/activity_log?environments_filter={env.name}",
            "created_at": env.created_at,
            "updated_at": env.updated_at,
            "protection_rules": rules,
            "deployment_branch_policy": env.deployment_branch_policy,
        }

    def environment_ref(self, env: Environment) -> JSONObject:
        """The short environment object embedded in approvals and pending deployments."""
        body = self.environment(env)
        return {k: body[k] for k in ("id", "node_id", "name", "url", "html_url")}

    def approval(self, approval: Approval) -> JSONObject:
        envs = []
        for name in approval.environments:
            env = self.state.environments.get(name.lower())
            if env is not None:
                full = self.environment(env)
                envs.append(
                    {
                        k: full[k]
                        for k in (
                            "id",
                            "node_id",
                            "name",
                            "url",
                            "html_url",
                            "created_at",
                            "updated_at",
                        )
                    }
                )
        return {
            "environments": envs,
            "state": approval.state,
            "user": self.simple_user(approval.user),
            "comment": approval.comment,
        }

    def pending_deployment(self, pending: PendingDeployment) -> JSONObject:
        env = self.state.environments[pending.environment.lower()]
        return {
            "environment": self.environment_ref(env),
            "wait_timer": pending.wait_timer,
            "wait_timer_started_at": pending.wait_timer_started_at,
            "current_user_can_approve": pending.current_user_can_approve,
            "reviewers": [self.reviewer(r) for r in pending.reviewers],
        }

    # -- deployments ------------------------------------------------------------------

    def deployment(self, d: Deployment) -> JSONObject:
        api = f"{self.repo_api}/deployments/{d.id}"
        return {
            "url": api,
            "id": d.id,
            "node_id": node_id("DE", d.id),
            "sha": d.sha,
            "ref": d.ref,
            "task": d.task,
            "payload": d.payload,
            "original_environment": d.environment,
            "environment": d.environment,
            "description": d.description,
            "creator": self.simple_user(d.creator),
            "created_at": d.created_at,
            "updated_at": d.statuses[-1].created_at if d.statuses else d.created_at,
            "statuses_url": f"{api}/statuses",
            "repository_url": self.repo_api,
            "transient_environment": d.transient_environment,
            "production_environment": d.production_environment,
            "performed_via_github_app": None,
        }

    def deployment_status(self, d: Deployment, st: DeploymentStatus) -> JSONObject:
        """GitHub answers ``""`` for URLs never set, which its own description (``format: uri``)
        rejects: optional ones are left out here, and ``target_url`` (required) falls back to
        the repository page, so the fake stays inside the contract it checks."""
        api = f"{self.repo_api}/deployments/{d.id}"
        urls = {"environment_url": st.environment_url, "log_url": st.log_url}
        body: JSONObject = {
            "url": f"{api}/statuses/{st.id}",
            "id": st.id,
            "node_id": node_id("DES", st.id),
            "state": st.state,
            "creator": self.simple_user(st.creator),
            "description": st.description,
            "environment": st.environment,
            "target_url": st.log_url or self.repo_web,
            "created_at": st.created_at,
            "updated_at": st.created_at,
            "deployment_url": api,
            "repository_url": self.repo_api,
            "performed_via_github_app": None,
        }
        body.update({k: v for k, v in urls.items() if v})
        return body

    # -- checks, statuses, runs ---------------------------------------------------------

    def status(self, status: CommitStatus) -> JSONObject:
        return {
            "id": status.id,
            "node_id": node_id("SC", status.id),
            "url": f"{self.repo_api}/statuses/{status.sha}",
            "avatar_url": None,
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
        }

    def check_run(self, run: CheckRun) -> JSONObject:
        api = f"{self.repo_api}/check-runs/{run.id}"
        return {
            "id": run.id,
            "node_id": node_id("CR", run.id),
            "head_sha": run.head_sha,
            "external_id": "",
            "url": api,
            "html_url": f"{self.repo_web}/runs/{run.id}",
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.title,
                "summary": run.summary,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/annotations",
            },
            "name": run.name,
            "check_suite": {"id": run.id + 1},
            "app": None,
            "pull_requests": [],
        }

    def workflow_run(self, run: WorkflowRun) -> JSONObject:
        api = f"{self.repo_api}/actions/runs/{run.id}"
        commit = self.state.commits.get(run.head_sha)
        head_commit = None
        if commit is not None:
            head_commit = {
                "id": commit.sha,
                "tree_id": commit.tree_sha,
                "message": commit.message,
                "timestamp": commit.committer.date,
                "author": {"name": commit.author.name, "email": commit.author.email},
                "committer": {"name": commit.committer.name, "email": commit.committer.email},
            }
        repo = self.minimal_repository()
        return {
            "id": run.id,
            "name": run.name,
            "node_id": node_id("WFR", run.id),
            "check_suite_id": run.id + 1,
            "check_suite_node_id": node_id("CS", run.id + 1),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.path,
            "run_number": run.run_number,
            "run_attempt": run.run_attempt,
            "event": run.event,
            "display_title": commit.message.splitlines()[0] if commit else run.name,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "url": api,
            "html_url": f"{self.repo_web}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": run.created_at,
            "updated_at": run.updated_at,
            "run_started_at": run.created_at,
            "actor": self.simple_user(run.actor),
            "triggering_actor": self.simple_user(run.actor),
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "check_suite_url": f"{self.repo_api}/check-suites/{run.id + 1}",
            "artifacts_url": f"{api}/artifacts",
            "cancel_url": f"{api}/cancel",
            "rerun_url": f"{api}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{self.repo_api}/actions/workflows/{run.workflow_id}",
            "head_commit": head_commit,
            "repository": repo,
            "head_repository": repo,
        }
