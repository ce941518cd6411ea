"""The OpenAI chat-completions request schema (pydantic), shared by the pool server and the router server.

``parse_chat_body(raw, max_bytes)`` bounds size and nesting before parsing (``replies.loads_bounded``),
then validates with ``ChatCompletionRequest``; every problem is a ``ChatRequestProblem`` carrying the
HTTP status (400, 413) and an OpenAI error body that names the field.  As the OpenAI spec defines
it: ``messages`` a non-empty list of messages whose ``role`` is one of system, developer, user,
assistant, tool, function and whose ``content`` is a string, a list of text parts or null;
``temperature`` in [0, 2]; ``top_p`` in [0, 1]; penalties in [-2, 2]; ``max_tokens`` /
``max_completion_tokens`` integers in [1, ``MAX_TOKENS``]; ``n`` in [1, 128]; ``stream`` a boolean.
Numbers are finite, booleans are not numbers, strings are valid Unicode (no lone surrogates).
Fields the schema does not name are kept (servers ignore them, as OpenAI-compatible servers do).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from xrouter.pool.replies import MAX_JSON_DEPTH, JSONLimitError, loads_bounded

MAX_TOKENS = 1_000_000
Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatRequestProblem(ValueError):
    """A request to refuse: HTTP status and the OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _valid_unicode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("holds a lone surrogate: not valid Unicode text") from None
    return value


class TextPart(BaseModel):
    """``{"type": "text", "text": "..."}``: the only content part a text router takes."""

    model_config = ConfigDict(extra="allow")
    type: Literal["text"]
    text: StrictStr

    @field_validator("text")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        return _valid_unicode(value)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Role
    content: StrictStr | list[TextPart] | None = None
    name: StrictStr | None = None

    @field_validator("content", "name")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        return _valid_unicode(value)

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatCompletionRequest(BaseModel):
    """The fields of an OpenAI chat-completions request that we check (others are kept as extras)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    model: StrictStr = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(None, ge=0, le=2, strict=True)
    top_p: float | None = Field(None, ge=0, le=1, strict=True)
    presence_penalty: float | None = Field(None, ge=-2, le=2, strict=True)
    frequency_penalty: float | None = Field(None, ge=-2, le=2, strict=True)
    max_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: StrictInt | None = Field(None, ge=1, le=MAX_TOKENS)
    n: StrictInt | None = Field(None, ge=1, le=128)
    stream: StrictBool | None = None
    stream_options: StreamOptions | None = None
    metadata: dict[str, StrictStr] | None = None

    def plain_messages(self) -> list[dict[str, Any]]:
        """The messages as plain dicts (what pool endpoints take), unset fields left out."""
        return [message.model_dump(exclude_none=True) for message in self.messages]


def _param(location: tuple) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("str", "list[TextPart]", "float", "int", "bool") or "[" in str(part):
            break  # pydantic's union-branch labels are not fields
        else:
            text += ("." if text else "") + str(part)
    return text


def problem_from(error: ValidationError) -> ChatRequestProblem:
    """The first validation error as a 400 that names the field and what it must be."""
    first = error.errors(include_url=False)[0]
    param = _param(first["loc"]) or None
    message = first["msg"]
    if param and (param.endswith(".content") or ".content[" in param):
        at = param.split(".content")[0] + ".content"
        return ChatRequestProblem(
            400, f'\'{at}\' must be a string, a list of text parts {{"type": "text", "text": "..."}} or null', param=at
        )
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "literal_error" and param and param.endswith("role"):
        message = "must be one of system, developer, user, assistant, tool, function"
    return ChatRequestProblem(400, f"'{param}' {message}" if param else message, param=param)


def parse_json_body(raw: bytes, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """The body as a JSON object, size and nesting bounded before parsing; else a problem (413 / 400)."""
    try:
        body = loads_bounded(raw, max_bytes, max_depth)
    except JSONLimitError as error:
        too_big = len(raw) > max_bytes
        raise ChatRequestProblem(
            413 if too_big else 400,
            f"{error}; send a smaller, flatter JSON object",
            code="request_too_large" if too_big else "json_too_deep",
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ChatRequestProblem(
            400, f"the request body is not valid JSON ({error}); send a JSON object", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ChatRequestProblem(400, f"the request body must be a JSON object, not {type(body).__name__}")
    try:
        _valid_unicode_keys(body)
    except ValueError as error:
        raise ChatRequestProblem(400, f"the request body {error}", code="invalid_json") from None
    return body


def _valid_unicode_keys(body: dict[str, Any]) -> None:
    for key in body:
        _valid_unicode(key)


def parse_chat_body(
    raw: bytes,
    max_bytes: int,
    max_depth: int = MAX_JSON_DEPTH,
    schema: type[ChatCompletionRequest] = ChatCompletionRequest,
) -> ChatCompletionRequest:
    """The validated request (``schema``: this model or a subclass), or a ``ChatRequestProblem``."""
    body = parse_json_body(raw, max_bytes, max_depth)
    try:
        return schema.model_validate(body)
    except ValidationError as error:
        raise problem_from(error) from None
