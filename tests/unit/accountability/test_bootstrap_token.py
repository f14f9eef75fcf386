"""``api.operator_token_bootstrap_only``: the operator token then creates, lists and revokes
named operators and nothing else; a carrier-admin keeps every carrier method."""

from __future__ import annotations

import pytest

from actors.api.roles import ROLES, bootstrap_only
from fabric.edge.auth import Authorizer, Principal, Role
from fabric.errors import PermissionDenied


async def _never(parts: object) -> Principal:
    raise AssertionError("no key is verified here")


def test_the_bootstrap_token_only_manages_operators() -> None:
    auth = Authorizer("fo_x", _never, bootstrap_only(ROLES))
    token = Principal(Role.OPERATOR, user_id="bootstrap")
    admin = Principal(Role.CARRIER_ADMIN, user_id="op-1")
    operators = [m for m in ROLES if "/fabric.api.v1.Operators/" in m]
    assert len(operators) == 3
    for method in operators:
        auth.check(method, token)
    carrier = [m for m, roles in ROLES.items() if Role.OPERATOR in roles and m not in operators]
    assert "/fabric.api.v1.CarrierAdmin/CreateTenant" in carrier
    for method in carrier:
        with pytest.raises(PermissionDenied):
            auth.check(method, token)
        if Role.CARRIER_ADMIN in ROLES[method]:
            auth.check(method, admin)
    # off (the default): the table is unchanged
    Authorizer("fo_x", _never, ROLES).check("/fabric.api.v1.CarrierAdmin/CreateTenant", token)
