"""Settings read from the environment (prefix SUPPORT_), with embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
RecipientKind = Literal["donor", "supplier", "municipality", "other"]


class MailAccount(BaseModel):
    """One IMAP account the worker fetches from."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    username: str
    password: SecretStr
    security: Literal["ssl", "starttls", "none"] = "ssl"
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    address: str | None = Field(default=None, description="Our address this account receives.")
    move_to: str | None = Field(default=None, description="Folder to move fetched mail to.")


class SeasonalMessage(BaseModel):
    """A notice the IVR reads after its greeting between two days of the year (JST)."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD, first day.")
    end: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD, last day; may wrap the year.")
    text: str = Field(min_length=1, max_length=500)
    municipality: str | None = None


# Fictitious numbers of the demo world: a general line and one per municipality.
DEMO_IVR_NUMBERS: dict[str, str | None] = {
    "+81120000100": None,
    "+81596000101": "ise",
    "+81450000102": "yokohama",
    "+81300000103": "chiyoda",
    "+81540000104": "shizuoka",
}
DEFAULT_SEASONAL_MESSAGES = (
    SeasonalMessage(
        start="12-01",
        end="01-10",
        text="ワンストップ特例の申請書は、寄附をした翌年の1月10日必着で、寄附先の自治体へお送りください。",
    ),
    SeasonalMessage(
        start="02-01",
        end="03-15",
        text="確定申告には、寄附金受領証明書が必要です。お手元にない場合は、寄附先の自治体へお問い合わせください。",
    ),
)


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as SUPPORT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="SUPPORT_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Local files: the SQLite database and the embedded search index.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at DATA_DIR/support.db.",
    )
    search_url: str = Field(
        default="",
        description="Empty: the embedded index in DATA_DIR; http(s)://...: Elasticsearch.",
    )
    log_level: LogLevel = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    session_ttl_minutes: int = Field(default=12 * 60, ge=1)
    token_ttl_minutes: int = Field(default=60, ge=1)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    login_rate_limit: int = Field(
        default=20,
        ge=1,
        description="Failed logins per address (a burst, refilled over the window).",
    )
    login_rate_window_seconds: int = Field(default=600, ge=1)
    cookie_secure: bool = True
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses whose X-Forwarded-For is believed (e.g. the load balancer).",
    )

    mail_accounts: list[MailAccount] = Field(
        default_factory=list,
        description="JSON list of IMAP accounts to fetch from (see MailAccount).",
    )
    mail_addresses: dict[str, str | None] = Field(
        default_factory=dict,
        description="Our own addresses, each mapped to the municipality it serves (or null).",
    )
    smtp_host: str = Field(default="", description="Empty: no outbound mail is sent.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    mail_from: str = Field(default="support@localhost", description="Fallback From address.")
    desk_name: str = "ふるさと納税 お問い合わせ窓口"
    policy_dir: Path | None = Field(
        default=None, description="Municipality policy files; empty: the bundled ones."
    )
    mail_batch_size: int = Field(default=100, ge=1, le=5000)
    fax_gateway: str = Field(
        default="",
        description="Mail-to-fax address for supplier notices, e.g. {fax}@fax.example.jp.",
    )
    sla_escalation_to: list[str] = Field(
        default_factory=list, description="Supervisors' addresses mailed when an SLA breaches."
    )
    undo_seconds: int = Field(
        default=60, ge=0, le=3600, description="How long approved mail waits before it is sent."
    )
    mail_iso2022jp_domains: list[str] = Field(
        default_factory=lambda: ["docomo.ne.jp", "ezweb.ne.jp"],
        description="Recipient domains (and their subdomains) sent ISO-2022-JP, not UTF-8.",
    )
    approval_required_for: list[RecipientKind] = Field(
        default_factory=lambda: list[RecipientKind](["donor", "supplier", "other"]),
        description="Recipient kinds whose mail needs a supervisor's approval.",
    )
    sent_account: str = Field(
        default="", description="IMAP account (name) holding the Sent folder; empty: the first."
    )
    sent_folder: str = Field(default="Sent", min_length=1, max_length=200)
    report_font: Path | None = Field(
        default=None,
        description="TrueType font with Japanese glyphs embedded in PDF reports; empty: an "
        "installed IPA font if found, else the PDF standard CID font HeiseiKakuGo-W5.",
    )

    # IVR (Twilio voice webhooks)
    public_base_url: str = Field(
        default="",
        description="The public https://... base URL Twilio calls; signatures are checked "
        "against it, not against the Host the request arrived with (proxies rewrite it).",
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), description="Twilio auth token; empty: every webhook is refused."
    )
    ivr_numbers: dict[str, str | None] = Field(
        default_factory=lambda: dict(DEMO_IVR_NUMBERS),
        description="Our phone numbers (E.164) and the municipality each serves; null: the "
        "general number.",
    )
    ivr_voice: str = "Polly.Mizuki"
    ivr_era: Literal["reiwa", "western"] = "reiwa"
    ivr_open_time: str = Field(default="09:00", pattern=r"^\d{2}:\d{2}$")
    ivr_close_time: str = Field(default="17:00", pattern=r"^\d{2}:\d{2}$")
    ivr_operator_mode: Literal["enqueue", "dial"] = "enqueue"
    ivr_operator_queue: str = "support"
    ivr_operator_number: str = Field(default="", description="For dial mode: whom to ring.")
    ivr_operator_wait_seconds: int = Field(default=120, ge=10, le=3600)
    ivr_seasonal_messages: list[SeasonalMessage] = Field(
        default_factory=lambda: list(DEFAULT_SEASONAL_MESSAGES)
    )
    ivr_order_number_formats: list[str] = Field(
        default_factory=lambda: ["ORD-####-######"],
        description="Order numbers as keyed on a phone: '#' is one digit, the rest is fixed.",
    )
    ivr_donation_number_formats: list[str] = Field(default_factory=lambda: ["D##-#######"])
    kb_public_rate_per_minute: int = Field(
        default=30, ge=1, description="Public FAQ searches per client IP and minute."
    )
    kb_public_burst: int = Field(default=10, ge=1, description="Public searches allowed at once.")

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'support.db').resolve()}"

    @property
    def search_index_path(self) -> Path:
        """Return the file of the embedded search index."""
        return self.data_dir / "search.db"
