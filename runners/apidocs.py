"""The API page at ``/`` and its OpenAPI document ``/docs.json``: the project's, not BentoML's.

BentoML generates the document from the service and the mounted app; left alone it is titled
``loan_default:dev``, versioned "None", described by a boilerplate README, lists the routes
under "default" beside an empty "Service APIs" group, and its page loads Google Tag Manager
and a GitHub banner from the internet. :func:`project_spec` keeps BentoML's paths and schemas
and sets:

* the title, the version (the package's, and the model being served), the description;
* one tag per group of endpoints (scoring, model, outcomes; BentoML's health and metrics
  routes keep their "Infrastructure" group);
* request examples that answer 200 when tried (the schema's example application; the
  feedback example needs the ``prediction_id`` of an earlier answer, as its text says).

:func:`page_html` is Swagger UI from BentoML's bundled files, with nothing fetched from the
internet.
"""

from __future__ import annotations

import copy
from typing import Any

from loan_default.schema import INPUT_FIELDS

TITLE = "Loan default scoring API"
DESCRIPTION = """\
Scores loan applications with the registered champion model: the calibrated probability of
default, a risk category (LOW / MEDIUM / HIGH), and on request the principal adverse-action
reasons (at most four application fields, from the factors actually scored). Every answer names
the model version that scored it and is written to the traffic log before it is sent; observed
outcomes posted to `/v1/feedback` feed the performance monitoring.

Bad input gets `422` naming each field and rule; a paused service (data-quality breach) or a
missing model gets `503` with the reason. gRPC (`LoanScoring` on port 3001) offers the same
operations. Documentation: `docs/serving.md` and `docs/grpc.md` in the repository.
"""

TAGS: list[dict[str, str]] = [
    {"name": "Scoring", "description": "Score applications, one or a batch, with reasons."},
    {"name": "Model", "description": "The model being served."},
    {"name": "Outcomes", "description": "Observed outcomes of earlier predictions."},
    {"name": "Infrastructure", "description": "Health and metrics (BentoML)."},
]
ROUTE_TAGS = {
    "/v1/predict": "Scoring",
    "/v1/predict_batch": "Scoring",
    "/v1/explain": "Scoring",
    "/v1/metadata": "Model",
    "/v1/feedback": "Outcomes",
}
EXAMPLE_PREDICTION_ID = "3f1c2a9e-8b7d-4e6f-a5c4-1d2e3f4a5b6c"


def example_application() -> dict[str, Any]:
    """A valid application built from the schema's documented example values."""
    return {f.name: f.example for f in INPUT_FIELDS if f.example is not None}


def request_examples() -> dict[str, Any]:
    """The request example of each POST route (what "Try it out" sends)."""
    application = example_application()
    return {
        "/v1/predict": application,
        "/v1/explain": application,
        "/v1/predict_batch": {
            "applications": [application, {**application, "application_id": "APP-000124"}]
        },
        "/v1/feedback": {"prediction_id": EXAMPLE_PREDICTION_ID, "observed_default": 0},
    }


def project_spec(
    base: dict[str, Any], *, package_version: str, model_version: str
) -> dict[str, Any]:
    """BentoML's OpenAPI document (``Service.openapi_spec.asdict()``) made the project's."""
    spec = copy.deepcopy(base)
    spec["info"] = {
        "title": TITLE,
        "version": f"{package_version} (model {model_version})",
        "description": DESCRIPTION,
    }
    spec["tags"] = TAGS
    examples = request_examples()
    for path, item in spec.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            if path in ROUTE_TAGS:
                operation["tags"] = [ROUTE_TAGS[path]]
            elif operation.get("tags") != ["Infrastructure"]:
                operation["tags"] = ["Infrastructure"]
            content = operation.get("requestBody", {}).get("content", {})
            if path in examples and "application/json" in content:
                content["application/json"]["example"] = examples[path]
    feedback = spec.get("paths", {}).get("/v1/feedback", {}).get("post")
    if feedback is not None:
        feedback["description"] = (
            f"{feedback.get('description', '')}\n\nThe example's `prediction_id` is a "
            "placeholder (answered 404): use the `prediction_id` of an earlier prediction."
        ).strip()
    return spec


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>{title}</title>
<link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css">
<link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script>
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "./docs.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    validatorUrl: null
  }});
}};
</script>
</body>
</html>
"""


def page_html() -> str:
    """Swagger UI on ``./docs.json`` from BentoML's bundled files: nothing from the internet."""
    return _PAGE.format(title=TITLE)
