"""The hand-written OpenAPI 3 document served at ``GET /openapi.json``."""

from __future__ import annotations

from typing import Any

from featurestore.server._scoring import OPENAPI_PATH

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/responses/Error"}
_SCALAR: dict[str, Any] = {
    "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
    "nullable": True,
}
_COLUMNS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": _SCALAR},
}
_JSON_ANY = {"application/json": {"schema": {"type": "object"}}}
_FRAME: dict[str, Any] = {
    "type": "object",
    "description": "column name -> a list of values (one per row), an object of row "
    "index -> value (pandas' to_dict()), or one value every row shares",
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR}]}},
            {"type": "object", "additionalProperties": _SCALAR},
            _SCALAR,
        ]
    },
}
_WRITE_ERRORS = ("400", "401", "403", "404", "408", "413", "415", "422", "503", "504")
_WRITE_REF = (
    "The branch written (default: the default branch), with its own definitions. The "
    "X-Featurestore-Ref header says the same; given both, they must agree (400 "
    "ref_mismatch). A tag or commit is refused (404), an internal branch too (403)"
)
_MATERIALIZE_REF = (
    "The ref materialized from (default: the default branch): a branch writes its own "
    "online namespace; a tag or commit is served by the default branch (a rollback). The "
    "X-Featurestore-Ref header says the same; given both, they must agree (400 "
    "ref_mismatch). An internal branch is refused (403)"
)


def _ref_field(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description, "example": "dev"}


def _ref_header(description: str) -> dict[str, Any]:
    return {
        "name": "X-Featurestore-Ref",
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def _post(
    summary: str, body: dict[str, Any], ok: str, errors: tuple[str, ...], ref: str | None = None
) -> dict[str, Any]:
    """A POST operation; ``ref``: the description of its ``ref`` field and header."""
    if ref is not None:
        body = {**body, "properties": {**body["properties"], "ref": _ref_field(ref)}}
    return {
        "post": {
            "summary": summary,
            "parameters": [_ref_header(ref)] if ref is not None else [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": _ok(ok), **_errors(*errors)},
        }
    }


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _ERROR for code in codes}


def _get(summary: str, params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": _ok(summary), **_errors("400", "401", "403", "404", "503")},
        }
    }


def _query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind},
    }


def openapi_document(title: str = "featurestore") -> dict[str, Any]:
    """The OpenAPI 3.0 document of the service."""
    lookup_body = {
        "type": "object",
        "required": ["entities"],
        "properties": {
            "features": {
                "type": "array",
                "items": {"type": "string"},
                "example": ["driver_hourly_stats:conv_rate"],
            },
            "feature_service": {"type": "string"},
            "entities": {**_COLUMNS, "example": {"driver_id": [1001, 1002]}},
            "full_feature_names": {"type": "boolean", "default": False},
            "include_feature_view_version_metadata": {"type": "boolean", "default": False},
            "request_context": _COLUMNS,
            "request_data": _COLUMNS,
            "ref": {
                "type": "string",
                "description": "The branch whose online namespace and committed definitions "
                "are read (default: the default branch). The X-Featurestore-Ref header says "
                "the same; given both, they must agree (400 ref_mismatch). A tag or commit "
                "is refused (404): materialize it on a branch and look that branch up",
                "example": "dev",
            },
        },
    }
    lookup_response = {
        "type": "object",
        "properties": {
            "metadata": {
                "type": "object",
                "properties": {
                    "feature_names": {"type": "array", "items": {"type": "string"}},
                    "feature_view_metadata": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string"},
                                "version": {"type": "integer"},
                            },
                        },
                    },
                },
            },
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "values": {"type": "array", "items": {}},
                        "statuses": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "enum": ["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"],
                            },
                        },
                        "event_timestamps": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }
    lookup_ok = _ok("Feature values in Feast's feature server shape", lookup_response)
    lookup_ok["content"]["application/vnd.apache.arrow.stream"] = {
        "schema": {"type": "string", "format": "binary"}
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "version": "1",
            "description": "Online feature lookups (Feast's request and response shapes), "
            "fresh observations, materialization and read-only versioning.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "An error with a stable code. A request naming one of "
                    "Feast's SDK fields (include_feature_view_version_metadata, "
                    "allow_registry_cache, transform_on_write, disable_event_timestamp) gets "
                    "Feast's form: a JSON string holding module, class and message (Feast's "
                    "client raises that class) and the same error object",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Error"},
                                    {"type": "string"},
                                ]
                            }
                        }
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}, {}],
        "paths": {
            "/get-online-features": {
                "post": {
                    "summary": "Look up online features (role: reader)",
                    "parameters": [
                        {
                            "name": "X-Featurestore-Ref",
                            "in": "header",
                            "required": False,
                            "description": "The branch to read, as the body's `ref` "
                            "(which wins when both are given and agree)",
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": lookup_body}},
                    },
                    "responses": {
                        "200": lookup_ok,
                        **_errors(
                            "400", "401", "403", "404", "408", "413", "415", "422", "503", "504"
                        ),
                    },
                }
            },
            "/push": _post(
                "Push fresh observations to the views a push source feeds (role: writer)",
                {
                    "type": "object",
                    "required": ["push_source_name", "df"],
                    "properties": {
                        "push_source_name": {"type": "string"},
                        "df": _FRAME,
                        "to": {
                            "type": "string",
                            "enum": ["online", "offline", "online_and_offline"],
                            "default": "online",
                        },
                        "allow_registry_cache": {"type": "boolean", "default": True},
                        "transform_on_write": {"type": "boolean", "default": True},
                    },
                },
                "Rows pushed",
                _WRITE_ERRORS,
                _WRITE_REF,
            ),
            "/write-to-online-store": _post(
                "Write one view's rows to the online store, monotonic (role: writer)",
                {
                    "type": "object",
                    "required": ["feature_view_name", "df"],
                    "properties": {
                        "feature_view_name": {"type": "string"},
                        "df": _FRAME,
                        "allow_registry_cache": {"type": "boolean", "default": True},
                        "transform_on_write": {"type": "boolean", "default": True},
                    },
                },
                "Rows written",
                _WRITE_ERRORS,
                _WRITE_REF,
            ),
            "/materialize": _post(
                "Materialize views over [start_ts, end_ts] (role: writer)",
                {
                    "type": "object",
                    "properties": {
                        "start_ts": {"type": "string", "example": "2025-01-01T00:00:00Z"},
                        "end_ts": {"type": "string", "example": "2025-01-02 00:00:00+02:00"},
                        "feature_views": {"type": "array", "items": {"type": "string"}},
                        "disable_event_timestamp": {"type": "boolean", "default": False},
                        "full_feature_names": {"type": "boolean", "default": False},
                        "version": {"type": "string", "nullable": True},
                    },
                },
                "What each view materialized",
                (*_WRITE_ERRORS, "409"),
                _MATERIALIZE_REF,
            ),
            "/materialize-incremental": _post(
                "Materialize what is new in every view up to end_ts (role: writer)",
                {
                    "type": "object",
                    "required": ["end_ts"],
                    "properties": {
                        "end_ts": {"type": "string", "example": "2025-01-01T00:00:00Z"},
                        "feature_views": {"type": "array", "items": {"type": "string"}},
                        "full_feature_names": {"type": "boolean", "default": False},
                        "version": {"type": "string", "nullable": True},
                    },
                },
                "What each view materialized",
                (*_WRITE_ERRORS, "409"),
                _MATERIALIZE_REF,
            ),
            "/score/{service}": OPENAPI_PATH,
            "/branches": _get("Branches and their head commits (role: reader)"),
            "/tags": _get("Tags and their commits (role: reader)"),
            "/log": _get(
                "Commit log of a ref (role: reader)",
                [
                    _query("ref", "branch, tag or commit id; the default branch when absent"),
                    _query("limit", "at most this many commits", "integer"),
                    _query("prefix", "only commits that changed paths under this prefix"),
                ],
            ),
            "/diff": _get(
                "Paths that differ between two refs (role: reader)",
                [
                    {**_query("left", "the base ref"), "required": True},
                    {**_query("right", "the compared ref"), "required": True},
                    _query("prefix", "only paths under this prefix"),
                ],
            ),
            "/online-status": _get("Which commit each view serves online (role: reader)"),
            "/explain/{request_id}": _get(
                "A logged lookup: what was served, from which commit, and the same features "
                "recomputed point-in-time on that commit, differences marked (role: reader)",
                [
                    {
                        "name": "request_id",
                        "in": "path",
                        "required": True,
                        "description": "the X-Request-Id of a logged lookup (32 hex digits)",
                        "schema": {"type": "string"},
                    }
                ],
            ),
            "/health": {
                "get": {
                    "summary": "Redis and the metadata database (open)",
                    "security": [],
                    "responses": {"200": _ok("Healthy"), "503": _ok("A backend is down")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (role: reader)",
                    "responses": {
                        "200": {
                            "description": "Text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors("401", "403"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document (role: reader)",
                    "responses": {"200": {"description": "OpenAPI 3", "content": _JSON_ANY}},
                }
            },
        },
    }
