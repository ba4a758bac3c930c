"""Domain errors raised inside the service; ``app`` maps each to one status and detail."""

from __future__ import annotations


class NotFoundError(LookupError):
    """An owner or contact that does not exist for this tenant (or belongs to another)."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.detail = f"{kind} not found"


class InvalidInputError(ValueError):
    """Input that passed the schema but breaks a rule of the data (unknown contact ...)."""

    def __init__(self, item: int | None, field: str, message: str, where: str = "body",
                 within: str | None = None) -> None:
        super().__init__(message)
        self.item, self.field, self.message, self.where, self.within = item, field, message, where, within

    def as_detail(self) -> list[dict[str, object]]:
        loc: list[object] = [self.where, *([self.within] if self.within else [])]
        loc += ([self.item] if self.item is not None else []) + [self.field]
        return [{"loc": loc, "msg": self.message, "type": "value_error"}]


class AuthError(PermissionError):
    def __init__(self, detail: str, status_code: int = 401) -> None:
        super().__init__(detail)
        self.detail, self.status_code = detail, status_code


class UnavailableError(RuntimeError):
    """Something this process cannot do now (a part not wired in, a store that is busy): 503."""

    def __init__(self, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail, self.retry_after = detail, retry_after
