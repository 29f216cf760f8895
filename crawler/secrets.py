"""Pure masking of secrets in text bound for logs, errors, run records and metadata.

Three things are masked: the values of secret environment variables (the AWS
credentials and any variable named like a secret: ``*TOKEN*``, ``*SECRET*``,
``*PASSWORD*``, ``*API_KEY*``..., so a value a config takes through
``${VAR}`` is masked wherever it shows up), passwords in URLs
(``https://user:***@host``), and values of secret-looking query parameters
(``?token=***``, ``&api_key=***``, ``X-Amz-Signature=***``).
"""

from __future__ import annotations

import os
import re

SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_SECRET_ENV_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_KEY|PRIVATE_KEY|"
                              r"CREDENTIAL", re.I)
MIN_SECRET_LEN = 8  # shorter values of secret-named variables ("true", "1") are not worth masking
MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@", re.I)
# "user:password@host" without a scheme, as some error messages print a URL's netloc
_BARE_USERINFO = re.compile(r"(?:(?<=^)|(?<=[\s'\"(<]))(?P<user>[\w.~%!$&*+=-]+):(?P<pw>[^\s/@:]+)@(?=[\w\[])")
_QUERY = re.compile(
    r"(?P<k>[?&;](?:[a-z0-9_.-]*(?:token|secret|password|passwd|pwd|apikey|api_key|signature|sig|"
    r"credential|auth)[a-z0-9_.-]*|(?:[a-z0-9_.-]*[_.-])?key)=)(?P<v>[^&#\s]+)", re.I)
_HEADER = re.compile(r"(?P<k>\b(?:authorization|x-amz-security-token|cookie)\s*[:=]\s*)(?P<v>[^\n,]+)", re.I)


def secret_values(env) -> list[str]:
    """Values of the secret variables in ``env``, longest first."""
    found = set()
    for name, value in env.items():
        if not value:
            continue
        if name in SECRET_ENV_VARS and len(value) >= 4:
            found.add(value)
        elif _SECRET_ENV_NAME.search(name) and len(value) >= MIN_SECRET_LEN:
            found.add(value)
    return sorted(found, key=len, reverse=True)


_ENV_SECRETS: tuple = (None, [])  # (the environment's raw items, its secret values)


def _environ_secrets() -> list[str]:
    """:func:`secret_values` of ``os.environ``, found again only when the environment changed.

    Masking runs on every URL and header stored; reading the environment through
    ``os.environ`` (a decode per variable) each time cost more than the masking.
    """
    global _ENV_SECRETS
    raw = getattr(os.environ, "_data", None)
    if raw is None:  # pragma: no cover - not CPython's os.environ
        return secret_values(os.environ)
    items = tuple(raw.items())
    if items != _ENV_SECRETS[0]:
        _ENV_SECRETS = (items, secret_values(os.environ))
    return _ENV_SECRETS[1]


def mask(text: str, env: dict | None = None) -> str:
    """Replace passwords in URLs, secret-looking query values and known secret values."""
    if not text:
        return text
    for value in (_environ_secrets() if env is None else secret_values(env)):
        if value in text:
            text = text.replace(value, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _BARE_USERINFO.sub(lambda m: f"{m['user']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['k']}{MASK}", text)
    text = _HEADER.sub(lambda m: f"{m['k']}{MASK}", text)
    return text
