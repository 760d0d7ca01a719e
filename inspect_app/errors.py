"""Errors services raise; web.py turns them into 4xx answers with Chinese messages."""


class ServiceError(Exception):
    status = 400

    def __init__(self, message, *, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}  # field name -> message, shown next to the field


class ValidationFailed(ServiceError):
    status = 422


class Conflict(ServiceError):
    status = 409


class TooManyAttempts(ServiceError):
    status = 429


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Busy(ServiceError):
    """The server refuses work it cannot take on now (the client may retry shortly)."""

    status = 503
