"""API keys of OpenAI-compatible servers: which may be read, where they may be sent, and scrubbing them.

Run config (the UI launchpad) can set ``api_key_env`` and ``base_url`` of an LLM. Neither may turn the
lake into a way to read an arbitrary environment variable or to send a key to an arbitrary server:

- **Declared names.** A key is read only from an environment variable in ``DECLARED_KEY_ENVS`` or in the
  comma-separated list ``$CITRUS_LLM_KEY_ENVS`` (set by whoever deploys the code location, not by run
  config). Any other name is refused before a request is sent (``check_key_env``); so
  ``api_key_env: DB_PASSWORD`` fails the run's config, naming the variable, never its value.
- **Bound URLs.** A key is sent only to a URL under ``$CITRUS_LLM_BASE_URL`` or one of the
  comma-separated ``$CITRUS_LLM_KEY_URLS`` (same scheme, host and port; path prefix). A run that points
  ``base_url`` elsewhere fails before connecting (``check_key_url``). Without a key nothing is sent and
  any URL may be used (a local vLLM server needs none).
- **Bound keys.** A key may also be given as a value, the ``api_key`` setting bound with
  ``dg.EnvVar("CITRUS_OPENAI_API_KEY")`` (Dagster reads the variable when the run starts and shows only its
  name). Such a value is used only when it is the value of a declared variable (``bound_key``), so run config
  cannot bind ``{env: DB_PASSWORD}`` or paste a literal; it then goes only to the bound URLs, like any key.
- **Clean keys.** Surrounding whitespace (``\\n``, ``\\r\\n``, ``\\t``: a key pasted from a file) is
  stripped; a key that still holds a character an HTTP header cannot carry is refused with its position,
  never its text (``clean_key``).
- **Redaction.** ``redact`` replaces every form a key takes in an error message: raw, stripped,
  ``repr``-escaped (also twice), JSON-escaped (ASCII or not), as a ``bytes`` repr, and percent-encoded.
"""

from __future__ import annotations

import hmac
import json
import os
from urllib.parse import quote, urlsplit

DECLARED_KEY_ENVS = ("CITRUS_OPENAI_API_KEY", "CITRUS_JUDGE_API_KEY", "CITRUS_EVAL_API_KEY")
EXTRA_KEY_ENVS = "CITRUS_LLM_KEY_ENVS"  # deployment: more declared names, comma-separated
KEY_URLS = "CITRUS_LLM_KEY_URLS"  # deployment: URLs a key may be sent to, comma-separated
BASE_URL_ENV = "CITRUS_LLM_BASE_URL"
REDACTED = "***"
_MIN_SECRET = 4  # shorter "secrets" would redact ordinary text


class SecretError(ValueError):
    """A key name, key or URL is refused. The message names the variable, never the value."""


def declared_key_envs() -> tuple[str, ...]:
    extra = [n.strip() for n in os.environ.get(EXTRA_KEY_ENVS, "").split(",") if n.strip()]
    return tuple(dict.fromkeys([*DECLARED_KEY_ENVS, *extra]))


def check_key_env(name: str) -> str:
    """``name`` when it may be read as an API key ("" = no key), else SecretError."""
    if name and name not in declared_key_envs():
        raise SecretError(
            f"api_key_env {name!r} is not a declared API-key variable (declared: "
            f"{', '.join(declared_key_envs())}; a deployment adds names in ${EXTRA_KEY_ENVS})"
        )
    return name


def clean_key(raw: str, name: str = "the API key") -> str:
    """The key without surrounding whitespace; SecretError when a character cannot go in an HTTP header."""
    key = raw.strip()
    for i, ch in enumerate(key):
        if not "\x21" <= ch <= "\x7e":
            raise SecretError(
                f"${name} holds a character that cannot be sent in an HTTP header at position {i} "
                f"(of {len(key)}; code point class: {'whitespace' if ch.isspace() else 'non-ASCII or control'})"
            )
    return key


def read_key(name: str) -> tuple[str, str]:
    """(clean key, raw value) of a declared variable; ("", "") when unset or empty."""
    if not name:
        return "", ""
    check_key_env(name)
    raw = os.environ.get(name, "")
    return (clean_key(raw, name) if raw.strip() else ""), raw


def bound_key(raw: str) -> tuple[str, str]:
    """(clean key, the declared variable holding it) of a key given as a value (``api_key``, bound with
    ``dg.EnvVar``); ("", "") when empty. SecretError, naming the declared variables and never the value, when
    no declared variable holds this value now (run config bound another variable, or a literal)."""
    value = raw.strip()
    if not value:
        return "", ""
    mine = value.encode("utf-8", "surrogatepass")
    for name in declared_key_envs():
        held = os.environ.get(name, "").strip().encode("utf-8", "surrogatepass")
        if held and hmac.compare_digest(held, mine):
            return clean_key(raw, name), name
    raise SecretError(
        "the llm resource's api_key is not the value of a declared API-key variable (declared: "
        f"{', '.join(declared_key_envs())}): bind it with dg.EnvVar(<one of them>), never a literal or another "
        f"variable (a deployment adds names in ${EXTRA_KEY_ENVS})"
    )


def _origin(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port, parts.path.rstrip("/")


def key_urls() -> list[str]:
    urls = [u.strip() for u in os.environ.get(KEY_URLS, "").split(",") if u.strip()]
    if os.environ.get(BASE_URL_ENV, "").strip():
        urls.append(os.environ[BASE_URL_ENV].strip())
    return urls


def key_url_allowed(url: str) -> bool:
    scheme, host, port, path = _origin(url)
    for allowed in key_urls():
        a_scheme, a_host, a_port, a_path = _origin(allowed)
        if (
            (scheme, host) == (a_scheme, a_host)
            and (a_port is None or a_port == port)
            and (path == a_path or path.startswith(a_path + "/"))
        ):
            return True
    return False


def check_key_url(url: str, name: str) -> None:
    if not key_url_allowed(url):
        raise SecretError(
            f"refusing to send the API key in ${name} to {url}: the URL is not under "
            f"${BASE_URL_ENV} or ${KEY_URLS} (set by the deployment, not by run config)"
        )


def secret_forms(*secrets: str) -> list[str]:
    """Every spelling of the secrets an error message may carry, longest first."""
    forms: set[str] = set()
    for s in secrets:
        for v in {s, s.strip()}:
            if len(v.strip()) < _MIN_SECRET:
                continue
            level = {v}
            for _ in range(2):  # escaped, and escaped again (a repr of a message holding a repr)
                nxt = set()
                for x in level:
                    nxt |= {
                        repr(x)[1:-1],
                        json.dumps(x)[1:-1],
                        json.dumps(x, ensure_ascii=False)[1:-1],
                        repr(x.encode("utf-8", "surrogatepass"))[2:-1],
                    }
                forms |= level
                level = nxt
            forms |= level
            forms.add(quote(v, safe=""))
    return sorted((f for f in forms if len(f) >= _MIN_SECRET), key=len, reverse=True)


def redact(text: str, *secrets: str) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    for form in secret_forms(*secrets):
        text = text.replace(form, REDACTED)
    return text
