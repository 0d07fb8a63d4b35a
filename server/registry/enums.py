"""Kinds of subjects and enterprises."""

from enum import StrEnum


class Domain(StrEnum):
    """The three fields the bureau inspects."""

    GAS = "gas"
    SELF_BUILT_HOUSE = "self_built_house"
    CONSTRUCTION_SITE = "construction_site"


class EnterpriseKind(StrEnum):
    """What an enterprise is to the bureau."""

    GAS_OPERATOR = "gas_operator"
    CONTRACTOR = "contractor"
    DEVELOPER = "developer"
    SUPERVISOR = "supervisor"
    PROPERTY_MANAGER = "property_manager"
    OTHER = "other"
