"""Pure masking of secrets in text bound for logs, errors, run records and metadata."""

from __future__ import annotations

import os
import re

SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]+)@", re.I)
_QUERY = re.compile(
    r"(?P<k>[?&;](?:[a-z0-9_-]*(?:token|secret|password|passwd|pwd|apikey|api_key|signature|sig|"
    r"credential|auth)[a-z0-9_-]*)=)(?P<v>[^&#\s]+)", re.I)
_HEADER = re.compile(r"(?P<k>\b(?:authorization|x-amz-security-token|cookie)\s*[:=]\s*)(?P<v>[^\n,]+)", re.I)


def mask(text: str, env: dict | None = None) -> str:
    """Replace passwords in URLs, secret-looking query values and known secret values."""
    if not text:
        return text
    env = os.environ if env is None else env
    for name in SECRET_ENV_VARS:
        value = env.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _QUERY.sub(lambda m: f"{m['k']}{MASK}", text)
    text = _HEADER.sub(lambda m: f"{m['k']}{MASK}", text)
    return text
