"""``POST /score/{service}``: live features through a model registered in config.

Body: ``{"entities": {"driver_id": [1001, 1002], "val_to_add": [1, 2]}}`` (columns, or
a list of row objects), optionally ``"model"`` (when several models serve the service)
and ``"ref"`` (a branch's online namespace; or the ``X-Featurestore-Ref`` header).
Answer: ``{"model", "fallback", "predictions", "commits", "feature_names"}``.

Each request's lookup runs in a worker thread as lookups do; its tensor then joins the
model's queue. One batching task per model takes the queue's requests, waiting up to
``max_wait_ms`` after the first for more, up to ``max_batch`` rows, and runs the model
once on all of them in a thread of its own (the event loop stays free); the task ends
when the queue is empty and starts again with the next request. A request the model has
not answered within ``deadline_ms`` (or that it failed) is answered by the ``fallback``
model on the same tensor, and the answer says so (``"fallback": true``,
``"fallback_reason": "deadline" | "error"``). Scoring is a read: the ``reader`` role.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.responses import Response

from featurestore.errors import ConfigError
from featurestore.scoring import Features, Model, load_model, online_features, predict
from featurestore.server._encoding import JSON, dumps
from featurestore.server._errors import HTTPError
from featurestore.server._feast_shape import REF_HEADER, body_ref, columns, merged_ref

if TYPE_CHECKING:
    import torch
    from starlette.requests import Request

    from featurestore import FeatureStore
    from featurestore.config import ModelConfig

__all__ = ["OPENAPI_PATH", "ModelRunner", "Scoring", "parse_score"]

log = logging.getLogger("featurestore.server")

_FIELDS = frozenset({"entities", "model", "ref"})


@dataclass
class _Pending:
    tensor: torch.Tensor
    rows: int
    future: asyncio.Future[torch.Tensor]


class ModelFailedError(Exception):
    """The model raised (the cause is chained) or returned the wrong shape."""


@dataclass
class ModelRunner:
    """One model, its queue of pending requests and the task that batches them."""

    name: str
    model: Model
    config: ModelConfig
    calls: int = 0
    """Model calls made so far (each on a batch of one or more requests)."""
    rows_scored: int = 0
    _queue: deque[_Pending] = field(default_factory=deque)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))

    @property
    def queued_rows(self) -> int:
        """Rows waiting for the next model call."""
        return sum(p.rows for p in self._queue if not p.future.done())

    async def submit(self, tensor: torch.Tensor) -> torch.Tensor:
        """The model's rows for ``tensor``, from the next batch; cancel to abandon it."""
        loop = asyncio.get_running_loop()
        pending = _Pending(tensor, int(tensor.shape[0]), loop.create_future())
        self._queue.append(pending)
        if self._wake is not None:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        return await pending.future

    async def _next_batch(self) -> list[_Pending]:
        """Queued requests up to ``max_batch`` rows, waiting up to ``max_wait_ms`` after
        the first for more to arrive."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.config.max_wait_ms / 1000
        batch: list[_Pending] = []
        rows = 0
        while True:
            while self._queue:
                head = self._queue[0]
                if head.future.done():  # abandoned: its deadline passed while queued
                    self._queue.popleft()
                    continue
                if batch and rows + head.rows > self.config.max_batch:
                    return batch
                batch.append(self._queue.popleft())
                rows += head.rows
            left = until - loop.time()
            if not batch or rows >= self.config.max_batch or left <= 0:
                return batch
            self._wake = asyncio.Event()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except TimeoutError:
                pass
            finally:
                self._wake = None

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                return  # idle: the next submit starts a new task
            try:
                out = await anyio.to_thread.run_sync(
                    partial(self._call, [p.tensor for p in batch]),
                    limiter=self._limiter,
                    abandon_on_cancel=True,
                )
            except Exception as e:
                log.error("model %s failed on %d request(s): %s", self.name, len(batch), e)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(ModelFailedError(str(e)))
                continue
            start = 0
            for p in batch:
                if not p.future.done():
                    p.future.set_result(out[start : start + p.rows])
                start += p.rows

    def _call(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        import torch

        joined = tensors[0] if len(tensors) == 1 else torch.cat(tensors)
        self.calls += 1
        self.rows_scored += int(joined.shape[0])
        return predict(self.model, joined)


@dataclass(frozen=True)
class ScoreRequest:
    """A parsed ``POST /score/{service}`` body."""

    service: str
    entities: dict[str, list[Any]]
    rows: int
    model: str | None = None
    ref: str | None = None


def _bad(message: str) -> HTTPError:
    return HTTPError(400, "bad_request", message)


def parse_score(
    service: str, body: object, max_entities: int, header_ref: str | None
) -> ScoreRequest:
    """Validate a score body; 400 on a malformed one, 413 on too many rows."""
    if not isinstance(body, dict):
        raise _bad('the body must be a JSON object: {"entities": {"<join key>": [...]}}')
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise _bad(f"unknown field(s) {unknown}; a score body has {sorted(_FIELDS)}")
    raw = body.get("entities")
    if isinstance(raw, list):
        if not raw or not all(isinstance(r, dict) for r in raw):
            raise _bad("`entities` as a list must hold one object per entity row")
        names = list(dict.fromkeys(k for r in raw for k in r))
        missing = [n for n in names if any(n not in r for r in raw)]
        if missing:
            raise _bad(f"every entity row must give the same fields; some lack {missing}")
        raw = {n: [r[n] for r in raw] for n in names}
    entities = columns(raw, "entities")
    lengths = {len(v) for v in entities.values()}
    if not entities or lengths == {0}:
        raise _bad("`entities` holds no rows; give the join keys of at least one entity")
    if len(lengths) != 1:
        raise _bad("every column of `entities` must have the same number of values")
    rows = lengths.pop()
    if rows > max_entities:
        raise HTTPError(
            413,
            "too_many_entities",
            f"{rows} entity rows is more than this server's {max_entities} per request; "
            "split the request",
        )
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise _bad("`model` must be a non-empty string naming a model of featurestore.yaml")
    ref = merged_ref(body_ref(body), header_ref)
    return ScoreRequest(service, entities, rows, model, ref)


_ERROR = {"$ref": "#/components/responses/Error"}
_ENTITY_VALUES = {
    "type": "array",
    "items": {
        "oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
    },
}
OPENAPI_PATH: dict[str, Any] = {
    "post": {
        "summary": "Score entities with a model of featurestore.yaml (role: reader)",
        "parameters": [
            {
                "name": "service",
                "in": "path",
                "required": True,
                "description": "The feature service whose features the model takes",
                "schema": {"type": "string"},
            },
            {
                "name": REF_HEADER,
                "in": "header",
                "required": False,
                "description": "The branch whose online namespace is read, as the body's `ref`",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["entities"],
                        "additionalProperties": False,
                        "properties": {
                            "entities": {
                                "description": "join keys and request data: column -> "
                                "values, or a list of row objects",
                                "oneOf": [
                                    {"type": "object", "additionalProperties": _ENTITY_VALUES},
                                    {"type": "array", "items": {"type": "object"}},
                                ],
                            },
                            "model": {"type": "string", "description": "a model's name"},
                            "ref": {"type": "string", "description": "a branch"},
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "predictions, the model that answered, each row's commit",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **{
                code: _ERROR
                for code in (
                    "400",
                    "401",
                    "403",
                    "404",
                    "408",
                    "413",
                    "415",
                    "422",
                    "500",
                    "503",
                    "504",
                )
            },
        },
    }
}
"""The operation in the service's OpenAPI document."""


class Scoring:
    """The models of ``featurestore.yaml``, loaded when the app is made."""

    def __init__(self, store: FeatureStore) -> None:
        configs = store.config.models
        for name, cfg in configs.items():
            if cfg.fallback is None:
                continue
            other = configs.get(cfg.fallback)
            if other is None or cfg.fallback == name:
                raise ConfigError(
                    f"models.{name}.fallback: {cfg.fallback!r} is not another model in "
                    f"featurestore.yaml (models: {sorted(configs)})"
                )
            if other.service != cfg.service:
                raise ConfigError(
                    f"models.{name}.fallback: {cfg.fallback!r} scores {other.service!r}, not "
                    f"{cfg.service!r}; a fallback takes the same features"
                )
        project_dir = store.config.project_dir
        self.runners = {
            name: ModelRunner(name, load_model(name, cfg, project_dir), cfg)
            for name, cfg in configs.items()
        }

    def runner(self, service: str, model: str | None) -> ModelRunner:
        """The model that scores ``service``: the one named, else the service's only
        model that is no other's fallback; 404 ``model_not_found`` otherwise."""
        if model is not None:
            found = self.runners.get(model)
            if found is None or found.config.service != service:
                known = sorted(n for n, r in self.runners.items() if r.config.service == service)
                raise HTTPError(
                    404,
                    "model_not_found",
                    f"no model {model!r} scores feature service {service!r}; "
                    f"its models are {known} (featurestore.yaml, models:)",
                )
            return found
        fallbacks = {r.config.fallback for r in self.runners.values()}
        candidates = [
            r for n, r in self.runners.items() if r.config.service == service and n not in fallbacks
        ]
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            served = sorted({r.config.service for r in self.runners.values()})
            raise HTTPError(
                404,
                "model_not_found",
                f"no model scores feature service {service!r}; models in featurestore.yaml "
                f"score {served or 'nothing (add models: to it)'}",
            )
        raise _bad(
            f"several models score {service!r} ({sorted(r.name for r in candidates)}); "
            'name one: {"model": "..."}'
        )

    async def answer(self, runner: ModelRunner, features: Features) -> dict[str, Any]:
        """The main model's answer within its deadline, else its fallback's."""
        reason = "deadline"
        deadline = runner.config.deadline_ms
        try:
            if deadline is None:
                out = await runner.submit(features.tensor)
            else:
                out = await asyncio.wait_for(runner.submit(features.tensor), deadline / 1000)
            return _body(runner, features, out, None)
        except TimeoutError:
            if runner.config.fallback is None:
                raise HTTPError(
                    504,
                    "deadline_exceeded",
                    f"model {runner.name!r} did not answer within {deadline:g} ms and has no "
                    "fallback; retry, or configure models.<name>.fallback",
                ) from None
        except ModelFailedError:
            if runner.config.fallback is None:
                raise HTTPError(
                    500, "model_failed", f"model {runner.name!r} failed; see the server's log"
                ) from None
            reason = "error"
        backup = self.runners[runner.config.fallback]
        try:
            out = await backup.submit(features.tensor)
        except ModelFailedError:
            raise HTTPError(
                500,
                "model_failed",
                f"model {runner.name!r} ({reason}) and its fallback {backup.name!r} failed; "
                "see the server's log",
            ) from None
        return _body(backup, features, out, reason)


def _body(
    runner: ModelRunner, features: Features, out: torch.Tensor, reason: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": runner.name,
        "fallback": reason is not None,
        "predictions": out.detach().cpu().tolist(),
        "commits": list(features.commits),
        "feature_names": list(features.names),
    }
    if reason is not None:
        body["fallback_reason"] = reason
    if features.request_id is not None:
        body["request_id"] = features.request_id
    return body


async def score(service: Any, request: Request) -> Response:
    """Handle ``POST /score/{service}`` (``service`` is the app's ``_Service``)."""
    parsed = parse_score(
        request.path_params["service"],
        await service.body(request),
        service.max_entities,
        request.headers.get(REF_HEADER),
    )
    scoring: Scoring = service.scoring
    runner = scoring.runner(parsed.service, parsed.model)
    service.metrics.entities.observe(parsed.rows)
    features = await service.call(
        partial(
            online_features,
            service.store,
            parsed.service,
            parsed.entities,
            device=runner.config.device,
            ref=parsed.ref,
        ),
        online=True,
    )
    try:
        with anyio.fail_after(service.timeout):
            body = await scoring.answer(runner, features)
    except TimeoutError:
        raise HTTPError(
            504,
            "timeout",
            f"the request took longer than {service.timeout:g} s and was abandoned; retry later",
        ) from None
    return Response(dumps(body), media_type=JSON)
