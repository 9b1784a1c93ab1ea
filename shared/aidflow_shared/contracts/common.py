"""Value sets and field helpers shared by several message payloads."""
from marshmallow import fields, validate

SOURCES = ("ex_officio", "partner_transfer", "application", "lead")
TRACKS = ("standard", "urgent_medical")
OUTCOMES = ("approved", "rejected")


def Fen(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """Money: integer fen, never a float or a string."""
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)
