"""``http.web_config_file``: the web configuration file of Prometheus and its exporters (exporter-toolkit,
``--web.config.file``), read with the same keys, values and meanings, so a NOC's existing file works::

    tls_server_config:            # HTTPS; without cert/key/CA/client_auth_type the server stays plain HTTP
      cert_file: server.crt       # relative paths are taken against this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # with client_ca_file: mutual TLS
      client_ca_file: ca.crt
      min_version: TLS12
      cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # Go names; TLS 1.2 and below, as in Go
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:             # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':\\n')
      prometheus: $2y$10$...
    rate_limit: {interval: 1s, burst: 20}

Unknown keys and bad values are refused, every problem at once with its path. Python's ``ssl`` module cannot ask
for a client certificate without verifying it, so ``RequireAnyClientCert`` (and its old name ``RequireClientCert``)
is refused, and ``RequestClientCert`` asks for none (an unverified certificate grants nothing either way);
``curve_preferences`` takes one curve; HTTP/2 is never offered (``http2`` is accepted).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from certwatch.yamlfile import YamlError, load_yaml

# Go's tls.CipherSuites() names (the only ones exporter-toolkit accepts) -> OpenSSL names; "" for the TLS 1.3 suites,
# which Go (and so the toolkit) does not let the configuration choose.
CIPHERS: Final = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
CURVES: Final = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1", "X25519": "X25519"}
TLS_VERSIONS: Final = ("TLS10", "TLS11", "TLS12", "TLS13")
# The headers exporter-toolkit lets a file set, with their only accepted values (None: any value).
HEADERS: Final[dict[str, tuple[str, ...] | None]] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
_BCRYPT: Final = re.compile(r"\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}")
_GO_DURATION: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS: Final = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class WebConfigError(Exception):
    """Every problem of a web configuration file, each as ``path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def _file(value: Any, info: ValidationInfo) -> Any:
    """A readable file, relative paths against the web configuration's directory (as exporter-toolkit does)."""
    if not isinstance(value, str):
        return value  # left for pydantic to reject
    if value == "":
        return None  # Go's zero value: not set
    base = (info.context or {}).get("directory", Path())
    path = Path(base) / value
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    return path


def _cipher(value: str) -> str:
    if value not in CIPHERS:
        raise ValueError(f"unknown cipher suite {value!r} (Go names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)")
    return value


def _curve(value: str) -> str:
    if value not in CURVES:
        raise ValueError(f"unknown curve {value!r} (one of {', '.join(CURVES)})")
    return value


def _bcrypt(value: str) -> str:
    if not _BCRYPT.fullmatch(value):
        raise ValueError("not a bcrypt hash ($2y$, $2b$ or $2a$, cost 04 to 31: htpasswd -nBC 10 '' | tr -d ':\\n')")
    return value


def _go_duration(value: Any) -> Any:
    """Go's ``time.ParseDuration`` (``1s``, ``100ms``, ``1m30s``; ``0``) as seconds."""
    if isinstance(value, str):
        text = value.strip()
        parts = _GO_DURATION.findall(text)
        if text == "0":
            return 0.0
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {value!r} (Go syntax: 500ms, 1s, 1m30s)")
        return sum(float(n) * _GO_UNITS[u] for n, u in parts)
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1e-9  # a bare integer is nanoseconds for Go's YAML decoder
    raise ValueError(f"not a duration: {value!r} (Go syntax: 500ms, 1s, 1m30s)")


def _headers(value: dict[str, str]) -> dict[str, str]:
    problems = []
    for name, text in value.items():
        if name not in HEADERS:
            problems.append(f"header {name!r} cannot be set (only {', '.join(HEADERS)})")
        elif (allowed := HEADERS[name]) is not None and text not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}, not {text!r}")
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _null_is_default(value: Any) -> Any:
    """YAML ``key:`` with nothing after it is Go's zero value, not an error."""
    return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


FileName = Annotated[Path | None, BeforeValidator(_file)]
Cipher = Annotated[str, AfterValidator(_cipher)]
Curve = Annotated[str, AfterValidator(_curve)]
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
ClientAuth = Literal[
    "",
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",  # refused by _consistency, with the reason
    "RequireClientCert",  # the toolkit's old name of RequireAnyClientCert
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        return _null_is_default(data)


class TlsServerConfig(_Section):
    cert: str = ""
    key: SecretStr = SecretStr("")
    client_ca: str = ""
    cert_file: FileName = None
    key_file: FileName = None
    client_auth_type: ClientAuth = ""  # "" is NoClientCert, but given, it turns TLS on (as in the toolkit)
    client_ca_file: FileName = None
    client_allowed_sans: tuple[str, ...] | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"
    cipher_suites: tuple[Cipher, ...] = ()
    prefer_server_cipher_suites: bool = True
    curve_preferences: tuple[Curve, ...] = Field((), max_length=1)

    @property
    def enabled(self) -> bool:
        """As exporter-toolkit: TLS as soon as a certificate, key, client CA or client auth type is given."""
        return bool(self.cert or self.key.get_secret_value() or self.client_ca or self.client_auth_type) or any(
            f is not None for f in (self.cert_file, self.key_file, self.client_ca_file)
        )

    @property
    def verifies_clients(self) -> bool:
        return self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")


class HttpServerConfig(_Section):
    http2: bool = True  # accepted for compatibility: certwatch speaks HTTP/1.1 only
    headers: Annotated[dict[str, str], AfterValidator(_headers)] = Field(default_factory=dict)


class RateLimit(_Section):
    interval: Annotated[float, BeforeValidator(_go_duration), Field(ge=0)] = 0.0
    burst: int = Field(0, ge=0)


class WebConfig(_Section):
    tls_server_config: TlsServerConfig = TlsServerConfig()
    http_server_config: HttpServerConfig = HttpServerConfig()
    basic_auth_users: dict[str, Annotated[str, AfterValidator(_bcrypt)]] = Field(default_factory=dict)
    rate_limit: RateLimit = RateLimit()


def _consistency(raw: Any) -> list[str]:
    """The rules between keys of tls_server_config, checked on the raw document (so they are reported together with
    every problem of single values), as exporter-toolkit checks them."""
    tls = raw.get("tls_server_config") if isinstance(raw, dict) else None
    if not isinstance(tls, dict):
        return []

    def given(key: str) -> bool:
        return tls.get(key) not in (None, "")

    at = "tls_server_config"
    problems = []
    auth = tls.get("client_auth_type") or "NoClientCert"
    if auth in ("RequireAnyClientCert", "RequireClientCert"):
        problems.append(
            f"{at}.client_auth_type: {auth} (a client certificate without verification) is not supported: use "
            "RequireAndVerifyClientCert with client_ca_file"
        )
    if any(
        given(k) for k in ("cert", "key", "client_ca", "cert_file", "key_file", "client_ca_file", "client_auth_type")
    ):
        for inline, file in (("cert", "cert_file"), ("key", "key_file")):
            if not given(inline) and not given(file):
                problems.append(f"{at}: missing one of {inline} or {file}")
    for inline, file in (("cert", "cert_file"), ("key", "key_file"), ("client_ca", "client_ca_file")):
        if given(inline) and given(file):
            problems.append(f"{at}: give {inline} or {file}, not both")
    if (given("client_ca") or given("client_ca_file")) and auth == "NoClientCert":
        problems.append(f"{at}: a client CA is configured without client_auth_type (RequireAndVerifyClientCert)")
    if tls.get("client_allowed_sans") is not None and auth != "RequireAndVerifyClientCert":
        problems.append(f"{at}.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert")
    low, high = tls.get("min_version", "TLS12"), tls.get("max_version", "TLS13")
    if low in TLS_VERSIONS and high in TLS_VERSIONS and TLS_VERSIONS.index(low) > TLS_VERSIONS.index(high):
        problems.append(f"{at}: min_version {low} is above max_version {high}")
    return problems


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "too_long" and err["loc"][-1:] == ("curve_preferences",):
            msg = "certwatch takes one curve (Python's ssl module sets a single ECDH curve)"
        out.append(f"{path}: {msg}")
    return out


@dataclass(frozen=True)
class WebSettings:
    """A valid web configuration file: its model, and a digest of its TLS part with the files it names (a changed
    digest means the HTTP listener must be restarted with a new TLS context)."""

    path: Path
    config: WebConfig
    tls_digest: str


def parse(data: Any, directory: Path) -> WebConfig:
    """Validate a decoded document; relative file names are taken against ``directory``."""
    if data is None:
        data = {}  # an empty file: Go's zero values
    if not isinstance(data, dict):
        raise WebConfigError(["(top level): expected a mapping of options"])
    consistency = _consistency(data)
    try:
        config = WebConfig.model_validate(data, context={"directory": directory})
    except ValidationError as exc:
        raise WebConfigError(_problems(exc) + consistency) from None
    if consistency:
        raise WebConfigError(consistency)
    return config


def load(path: Path) -> WebSettings:
    """Read and validate a web configuration file (not yet the TLS material itself: see :mod:`.webtls`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WebConfigError([f"cannot read: {exc}"]) from None
    try:
        data = load_yaml(text)
    except YamlError as exc:
        raise WebConfigError([str(exc)]) from None
    config = parse(data, path.parent)
    return WebSettings(path, config, _tls_digest(config.tls_server_config))


def _tls_digest(tls: TlsServerConfig) -> str:
    digest = hashlib.sha256(tls.model_dump_json().encode())
    digest.update(tls.key.get_secret_value().encode())
    for file in (tls.cert_file, tls.key_file, tls.client_ca_file):
        if file is not None:
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"unreadable")  # the TLS context will say why
    return digest.hexdigest()
