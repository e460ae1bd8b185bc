"""Exceptions raised by minicodec."""


class BitstreamError(ValueError):
    """The stream is truncated, corrupt, or uses a feature outside what minicodec decodes.

    Raised by every decoding entry point instead of crashing or returning garbage.
    """
