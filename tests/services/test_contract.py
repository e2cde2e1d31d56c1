"""The gateway meets its OpenAPI contract: schemathesis-generated requests, no 5xx, no violations.

The schema is the in-code contract (:data:`workbench.services.openapi.OPENAPI`); the first test
checks the running gateway serves exactly it. Point ``base_url`` at another implementation
(a Go or Rust gateway) to hold it to the same contract.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from workbench.services.openapi import OPENAPI

pytestmark = pytest.mark.services

schema = schemathesis.openapi.from_dict(OPENAPI)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_gateway_serves_the_contract(core_services):
    assert httpx.get(core_services.gateway + "/openapi.json").json() == OPENAPI


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_contract(case, core_services):
    case.call_and_validate(
        base_url=core_services.gateway,
        headers=core_services.headers(),
        checks=CHECKS,
        timeout=30,
    )
