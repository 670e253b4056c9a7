"""GitHub's OpenAPI description as an executable contract for the fake.

``openapi-subset.json`` (written by ``scripts/extract_github_openapi.py``) holds the
operations relgate uses. This module turns it into:

* a router: (method, path on a given host) -> operation + decoded path parameters;
* request checks: path and query parameters (coerced from strings the way a server
  would), the JSON request body, the media type;
* response checks: the body against the schema declared for the status code.

The description is OpenAPI 3.0.3, whose schemas are *almost* JSON Schema. The one
difference that matters here is ``nullable: true``: it is rewritten once, at load
time, into Draft 2020-12 (``type: [T, "null"]``, ``null`` added to ``enum``, or an
``anyOf`` with ``{"type": "null"}`` when the schema combines others). ``format`` is
checked for ``date-time`` and ``uri`` only, with our own checkers, because jsonschema's
need optional packages and GitHub's custom formats (``repo.nwo``) mean nothing to it.
``oneOf`` is read as ``anyOf``, because the description's alternatives overlap.

Strict properties (on by default): every object schema that lists ``properties`` and
says nothing about ``additionalProperties`` is closed. GitHub itself may send more
than its description promises, but the *fake* must not -- otherwise relgate could
come to depend on a field that GitHub never documented -- and relgate must not send
a misspelt field that GitHub would silently ignore. GitHub's generic error bodies are
exempt: real ones carry undocumented fields such as ``request_id``.

The whole subset is registered once as a ``referencing`` resource and each schema is
compiled on first use and cached, so hundreds of requests cost milliseconds.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["SUBSET_PATH", "Contract", "Operation"]

SUBSET_PATH = Path(__file__).with_name("openapi-subset.json")
_BASE_URI = "urn:relgate:github-openapi"
_JSON = "application/json"
# Error schemas that stay open under strict properties (see module docstring).
_OPEN_SCHEMAS = frozenset({"basic-error", "validation-error"})
_SCHEMA_LIST_KEYS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_KEYS = ("items", "not", "additionalProperties", "contains")


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        # RFC 3339 requires a time zone; fromisoformat alone accepts naive times.
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return "T" in value and parsed.tzinfo is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urllib.parse.urlsplit(value)
        return bool(parts.scheme and parts.netloc)

    return checker


def _translate(schema: Any, *, strict: bool) -> Any:
    """Rewrite one OpenAPI 3.0 schema (recursively) as Draft 2020-12."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _translate(sub, strict=strict) for name, sub in value.items()}
        elif key == "allOf" and isinstance(value, list):
            # Each branch describes part of one object (issues/update: the issue, plus its
            # "suggestions"): closing every branch would make each reject the others' fields.
            # Inline branches stay open; the object as a whole is closed below instead.
            out[key] = [_translate(sub, strict=False) for sub in value]
        elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
            # oneOf is read as anyOf: GitHub's description offers overlapping
            # alternatives (basic-error vs repository-rule-violation-error on 409s), so
            # "exactly one" would reject GitHub's own responses.
            out["anyOf" if key == "oneOf" else key] = [
                _translate(sub, strict=strict) for sub in value
            ]
        elif key in _SCHEMA_KEYS and isinstance(value, dict):
            out[key] = _translate(value, strict=strict)
        else:
            out[key] = value
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if strict and "allOf" in out and "unevaluatedProperties" not in out:
        out["unevaluatedProperties"] = False  # sees what every branch (and its $refs) evaluated
    if out.pop("nullable", False):
        return _allow_null(out)
    return out


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    combines = any(k in schema for k in (*_SCHEMA_LIST_KEYS, "$ref"))
    if isinstance(kind, str) and not combines:
        schema["type"] = [kind, "null"]
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    if kind is None and not combines:
        return schema  # no constraint on the type: null is already allowed
    return {"anyOf": [{"type": "null"}, schema]}


def _translate_document(document: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    """Apply :func:`_translate` wherever the description holds a schema."""
    doc = copy.deepcopy(document)
    for name, schema in doc["components"].get("schemas", {}).items():
        doc["components"]["schemas"][name] = _translate(
            schema, strict=strict and name not in _OPEN_SCHEMAS
        )
    for param in doc["components"].get("parameters", {}).values():
        param["schema"] = _translate(param["schema"], strict=strict)
    for header in doc["components"].get("headers", {}).values():
        if "schema" in header:
            header["schema"] = _translate(header["schema"], strict=strict)
    response_objects = list(doc["components"].get("responses", {}).values())
    for methods in doc["paths"].values():
        for op in methods.values():
            for param in op.get("parameters", []):
                if "schema" in param:
                    param["schema"] = _translate(param["schema"], strict=strict)
            for media in op.get("requestBody", {}).get("content", {}).values():
                media["schema"] = _translate(media.get("schema", {}), strict=strict)
            response_objects.extend(op["responses"].values())
    for response in response_objects:
        for media in response.get("content", {}).values():
            media["schema"] = _translate(media.get("schema", {}), strict=strict)
    return doc


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    required: bool
    pointer: str  # JSON pointer to the parameter's schema in the subset
    schema: Mapping[str, Any]
    multi_segment: bool


@dataclass(frozen=True)
class Operation:
    """One operation of the description, ready to route and check."""

    method: str  # upper case
    template: str  # e.g. "/repos/{owner}/{repo}/git/refs/{ref}"
    operation_id: str
    docs_url: str
    uploads: bool  # served by the uploads host, not the API host
    regex: re.Pattern[str]
    path_params: Mapping[str, Parameter]
    query_params: Mapping[str, Parameter]
    body_media: Mapping[str, str]  # media type -> schema pointer
    body_required: bool
    body_binary: bool  # raw bytes of any media type (asset uploads)
    responses: Mapping[str, Mapping[str, str]]  # status -> {media type -> schema pointer}
    literal_length: int = field(compare=False)

    def __str__(self) -> str:
        return f"{self.method} {self.template} ({self.operation_id})"


class Contract:
    """Routes and checks requests and responses against the subset description."""

    def __init__(self, document: dict[str, Any], *, strict_properties: bool = True) -> None:
        self.source: Mapping[str, Any] = document.get("x-relgate-source", {})
        self._doc = _translate_document(document, strict=strict_properties)
        self._registry: Registry[Any] = Registry().with_resource(
            _BASE_URI, Resource.from_contents(self._doc, default_specification=DRAFT202012)
        )
        self._format_checker = _format_checker()
        self._validators: dict[str, Draft202012Validator] = {}
        self.operations: tuple[Operation, ...] = tuple(self._build_operations())
        self._by_key = {(op.method, op.template): op for op in self.operations}

    @classmethod
    @cache
    def load(cls, *, strict_properties: bool = True) -> Contract:
        """The contract from the committed subset, parsed once per process."""
        document = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
        return cls(document, strict_properties=strict_properties)

    # -- routing -------------------------------------------------------------------

    def operation(self, method: str, template: str) -> Operation:
        """Look an operation up by its spelling in the description."""
        try:
            return self._by_key[(method.upper(), template)]
        except KeyError:
            raise AssertionError(
                f"{method.upper()} {template} is not an operation in the GitHub API subset"
            ) from None

    def match(
        self, method: str, raw_path: str, *, uploads: bool
    ) -> tuple[Operation, dict[str, str]] | None:
        """Find the operation for a request path (still percent-encoded)."""
        for op in self.operations:
            if op.method != method.upper() or op.uploads != uploads:
                continue
            found = op.regex.fullmatch(raw_path)
            if found:
                return op, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None

    # -- checks --------------------------------------------------------------------

    def check_request(
        self,
        op: Operation,
        path_params: Mapping[str, str],
        query: Mapping[str, list[str]],
        content_type: str | None,
        body: bytes,
    ) -> list[str]:
        """Every way the request breaks the description, as readable lines."""
        problems: list[str] = []
        for name, param in op.path_params.items():
            problems += self._check_param(param, [path_params[name]])
        for name, values in query.items():
            if name not in op.query_params:
                problems.append(f"query parameter {name!r} is not defined for {op}")
                continue
            problems += self._check_param(op.query_params[name], values)
        for name, param in op.query_params.items():
            if param.required and name not in query:
                problems.append(f"required query parameter {name!r} is missing")
        problems += self._check_body(op, content_type, body)
        return problems

    def check_response(
        self, op: Operation, status: int, content_type: str | None, body: bytes
    ) -> list[str]:
        """Every way the response breaks the description, as readable lines."""
        declared = op.responses.get(str(status))
        if declared is None:
            if status < 400:
                return [f"status {status} is not a documented response of {op}"]
            declared = {}
        if not declared:
            if status >= 400:
                # GitHub sends a JSON error body even where the description documents
                # none (e.g. 404 on get-environment, 422 on upload-release-asset).
                declared = {_JSON: _pointer("components", "schemas", self._error_schema(status))}
            elif body:
                return [f"status {status} of {op} documents no body, got {len(body)} bytes"]
            else:
                return []
        media = (content_type or "").split(";")[0].strip()
        if media not in declared:
            return [f"content type {content_type!r} not documented for {status} of {op}"]
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"response body is not JSON: {exc}"]
        return self._validate(declared[media], instance, f"response {status} body")

    # -- internals -----------------------------------------------------------------

    @staticmethod
    def _error_schema(status: int) -> str:
        return "validation-error" if status == 422 else "basic-error"

    def _check_body(self, op: Operation, content_type: str | None, body: bytes) -> list[str]:
        if not op.body_media:
            return [f"{op} takes no request body, got {len(body)} bytes"] if body else []
        media = (content_type or "").split(";")[0].strip()
        if op.body_binary:
            # The description lists application/octet-stream, but the upload endpoint
            # takes the asset's own media type in Content-Type ("application/zip").
            return [] if media else ["a binary upload needs a Content-Type header"]
        if not body and media not in op.body_media:
            return ["request body is required"] if op.body_required else []
        if media not in op.body_media:
            return [f"request content type {content_type!r} is not one of {sorted(op.body_media)}"]
        if media != _JSON:
            return []  # raw bytes (asset uploads): nothing to validate but presence
        if not body:
            return ["request body is required"] if op.body_required else []
        try:
            instance = json.loads(body)
        except ValueError as exc:
            return [f"request body is not JSON: {exc}"]
        return self._validate(op.body_media[media], instance, "request body")

    def _check_param(self, param: Parameter, values: list[str]) -> list[str]:
        where = f"{param.location} parameter {param.name!r}"
        kind = param.schema.get("type")
        if kind != "array" and len(values) != 1:
            return [f"{where} given {len(values)} times"]
        value: Any = values if kind == "array" else _coerce(values[0], kind)
        return self._validate(param.pointer, value, where)

    def _validate(self, pointer: str, instance: Any, what: str) -> list[str]:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": f"{_BASE_URI}#{pointer}"},
                registry=self._registry,
                format_checker=self._format_checker,
            )
            self._validators[pointer] = validator
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{what}: {_describe(error)}" for error in errors]

    def _build_operations(self) -> Iterable[Operation]:
        ops: list[Operation] = []
        for template, methods in self._doc["paths"].items():
            for method, raw in methods.items():
                params = [self._resolve(p) for p in raw.get("parameters", [])]
                by_location: dict[str, dict[str, Parameter]] = {"path": {}, "query": {}}
                for index, (pointer, spec) in enumerate(params):
                    if spec["in"] not in by_location:
                        continue  # headers and cookies are not checked
                    if not pointer:
                        pointer = _pointer("paths", template, method, "parameters", str(index))
                    by_location[spec["in"]][spec["name"]] = Parameter(
                        name=spec["name"],
                        location=spec["in"],
                        required=bool(spec.get("required")),
                        pointer=pointer + "/schema",
                        schema=spec["schema"],
                        multi_segment=bool(spec.get("x-multi-segment")),
                    )
                body = raw.get("requestBody", {})
                body_ptr = _pointer("paths", template, method, "requestBody", "content")
                responses: dict[str, dict[str, str]] = {}
                for status, response in raw["responses"].items():
                    ptr, resolved = self._resolve(response)
                    if not ptr:
                        ptr = _pointer("paths", template, method, "responses", status)
                    responses[status] = {
                        media: f"{ptr}/content/{media.replace('/', '~1')}/schema"
                        for media in resolved.get("content", {})
                    }
                servers = raw.get("servers", [])
                ops.append(
                    Operation(
                        method=method.upper(),
                        template=template,
                        operation_id=raw["operationId"],
                        docs_url=raw.get("externalDocs", {}).get(
                            "url", "https://docs.github.com/rest"
                        ),
                        uploads=any("uploads" in s["url"] for s in servers),
                        regex=_path_regex(template, by_location["path"]),
                        path_params=by_location["path"],
                        query_params=by_location["query"],
                        body_media={
                            media: f"{body_ptr}/{media.replace('/', '~1')}/schema"
                            for media in body.get("content", {})
                        },
                        body_required=bool(body.get("required")),
                        body_binary=any(
                            media.get("schema", {}).get("format") == "binary"
                            for media in body.get("content", {}).values()
                        ),
                        responses=responses,
                        literal_length=len(re.sub(r"\{[^}]+\}", "", template)),
                    )
                )
        # Most literal text first: ".../commits/{ref}/status" must win over the
        # multi-segment ".../commits/{ref}".
        ops.sort(key=lambda op: (-op.literal_length, op.template))
        return ops

    def _resolve(self, node: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
        """Follow a local ``$ref``; return (pointer or "" if inline, target)."""
        ref = node.get("$ref")
        if ref is None:
            return "", node
        target: Any = self._doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return ref.removeprefix("#"), target


def _path_regex(template: str, params: Mapping[str, Parameter]) -> re.Pattern[str]:
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            segment = ".+" if params[name].multi_segment else "[^/]+"
            pattern += f"(?P<{name}>{segment})"
    return re.compile(pattern)


def _coerce(value: str, kind: Any) -> Any:
    """Read a string parameter as the type its schema declares, if it can be."""
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _describe(error: ValidationError) -> str:
    location = _pointer(*(str(p) for p in error.absolute_path)) if error.absolute_path else "/"
    message = error.message
    if len(message) > 300:
        message = message[:300] + "..."
    if error.context:
        message += f" (closest: {best_match(error.context).message[:200]})"
    return f"{location}: {message}"
