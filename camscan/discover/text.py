"""Transition alias for branches written before the codec package (issue #11); removed once they have merged.
Import :func:`camscan.codec.text.strip_controls`."""

from camscan.codec.text import MAX_VALUE, strip_controls  # noqa: F401

clean = strip_controls
