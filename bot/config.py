"""Settings: the only reader of the environment and `.env`.

Nothing here runs at import time; call `load_settings()` where the settings
are needed (the command line does it once and passes them down).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The token written in `.env.example`; refusing it turns a copy-paste slip into a clear message.
PLACEHOLDER_TOKEN = "123456:replace-with-the-token-from-BotFather"


class SettingsError(ValueError):
    """Settings that cannot work, with a message meant for the person running the bot."""


class Settings(BaseSettings):
    """Every setting of the bot. Names are the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    # --- Telegram ---
    telegram_bot_token: SecretStr | None = None
    telegram_bot_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    rate_limit: bool = True
    telegram_proxy: str | None = None
    flood_messages: int = Field(default=8, ge=1)
    flood_window_seconds: float = Field(default=10.0, gt=0)

    # --- Knowledge and storage ---
    knowledge_dir: Path = Path("knowledge")
    database_path: Path = Path("data/helpdesk.sqlite3")
    user_hash_secret: SecretStr = SecretStr("change-me-in-production")
    retention_days: int = Field(default=90, ge=1)
    auto_reload: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- Matching ---
    semantic_enabled: bool = True
    embedding_model: Literal["e5", "use"] = "e5"
    embedding_cache_dir: Path = Path("data/cache")
    match_answer_threshold: float = Field(default=85.0, ge=0, le=100)
    match_clarify_threshold: float = Field(default=25.0, ge=0, le=100)
    match_margin: float = Field(default=10.0, ge=0, le=100)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return frozenset(int(p) for p in parts if p)
            except ValueError as exc:
                raise ValueError("ADMIN_IDS must be comma-separated Telegram user ids") from exc
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("telegram_bot_token", mode="after")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip() == PLACEHOLDER_TOKEN:
            raise ValueError(
                "TELEGRAM_BOT_TOKEN is still the placeholder from .env.example: "
                "ask @BotFather for a token, or remove the line to use the console chat"
            )
        return value

    @field_validator("telegram_bot_api_url", mode="after")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("TELEGRAM_BOT_API_URL must start with http:// or https://")
        return value.rstrip("/")

    @property
    def token(self) -> str | None:
        """The bot token, or None for the console chat."""
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    @property
    def bot_api_base_url(self) -> str:
        """What python-telegram-bot expects as `base_url`: it appends the token and method."""
        return f"{self.telegram_bot_api_url}/bot"

    @property
    def bot_api_file_url(self) -> str:
        """Base URL for file downloads (admins upload knowledge files)."""
        return f"{self.telegram_bot_api_url}/file/bot"


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment and `.env`.

    Raises:
        SettingsError: a setting is invalid; the message says which and why.
    """
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]).upper() or "settings"
            lines.append(f"{field}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
