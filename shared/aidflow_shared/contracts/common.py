"""Value sets and field helpers shared by several message payloads."""
from marshmallow import fields, validate

SOURCES = ("ex_officio", "partner_transfer", "application", "lead")
TRACKS = ("standard", "urgent_medical")
OUTCOMES = ("approved", "rejected")


# The largest integer every JSON reader keeps exactly (2**53 - 1): about 90 trillion yuan.
MAX_FEN = 2**53 - 1


def Fen(**kwargs) -> fields.Integer:  # noqa: N802 - reads like a field class
    """Money: integer fen, never a float, a boolean or a string, and never past ``MAX_FEN``."""
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_FEN), **kwargs)
