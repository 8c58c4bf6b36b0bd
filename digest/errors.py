"""The exception tree: one root, one subclass per boundary; never raised for a single bad feed.

A failing feed is an outcome (see `models.FeedOutcome`), not an exception: these errors are for
things that stop a command (bad config, an unusable database, a delivery that cannot proceed).
"""


class DigestError(Exception):
    """Root of every error digest raises on purpose; the CLI turns it into one clear line."""

    exit_code = 1


class ConfigError(DigestError):
    """The configuration is unusable; `problems` lists each one as `key.path: message`."""

    exit_code = 2

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = [_printable(p) for p in problems]  # one line each, whatever the value
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


def _printable(text: str) -> str:
    """Text with its control characters (a newline in a value, an escape sequence, a bidi
    override) written as escapes: an error stays one line and cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class UsageError(DigestError):
    """The command was asked for something impossible (a bad --edition date, say)."""

    exit_code = 2


class StoreError(DigestError):
    """The database could not be opened or written."""


class RenderError(DigestError):
    """A template is missing or broken; the message names the template and line."""


class DeliveryError(DigestError):
    """A message could not be handed over; `permanent` says whether retrying can help, and
    `connection` that the transport itself failed (server unreachable, login refused), so no
    later recipient can get through either. `unconfirmed`: the connection was lost after the
    message was handed over, so the server may have it (not to be sent again). `bounce`: what
    the refusal says about the recipient's address (a models.BounceKind value, "hard" or
    "soft"), or None when it says nothing about it (our sender refused, the session failed)."""

    def __init__(self, message: str, *, permanent: bool, connection: bool = False,
                 unconfirmed: bool = False, bounce: str | None = None) -> None:
        self.permanent = permanent
        self.connection = connection
        self.unconfirmed = unconfirmed
        self.bounce = bounce
        super().__init__(message)


class OpmlError(UsageError):
    """An OPML file to import is unreadable, not XML, not OPML or lists no feeds; names the file."""


class FetchError(DigestError):
    """One web page asked for by hand (an article an editor adds) could not be downloaded; the
    message names the URL and why ("https://x/y: HTTP 404 Not Found"). A feed's failure is an
    outcome, never this."""
