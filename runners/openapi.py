"""The OpenAPI documentation of raw-body routes: request and response bodies by model.

The routes read raw bytes (no FastAPI body parameter), so their bodies are documented through
``openapi_extra`` and ``responses``: the page shows every field, unit and range while the hot
path stays lean.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from loan_default.api import ErrorResponse


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$defs`` references in place and move units into descriptions."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            out = {k: walk(v) for k, v in node.items()}
            if "unit" in out:
                unit = out.pop("unit")
                out["description"] = f"{out.get('description', '')} Unit: {unit}.".strip()
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


def documented(
    request_model: type[BaseModel] | None, response_model: type[BaseModel], **statuses: str
) -> dict[str, Any]:
    """FastAPI route options that document a raw-body route's request and responses."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": response_model, "description": "Success."}
    }
    for code, text in statuses.items():
        responses[int(code.removeprefix("s"))] = {"model": ErrorResponse, "description": text}
    options: dict[str, Any] = {"responses": responses, "response_class": Response}
    if request_model is not None:
        body = _inline(request_model.model_json_schema())
        options["openapi_extra"] = {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        }
    return options
