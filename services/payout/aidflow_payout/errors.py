"""A request the rules refuse: an HTTP status, a stable code and, where fields are at fault, codes per field."""


class Refused(Exception):
    def __init__(self, code: str, fields: dict | None = None, status: int = 422):
        super().__init__(code)
        self.code = code
        self.fields = fields or {}
        self.status = status
