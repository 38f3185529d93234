"""Errors raised while loading a reward, each naming what was expected and where to get it."""


class RewardLoadError(Exception):
    """Base class: a reward could not be loaded from the given local files."""


class RewardFileMissingError(RewardLoadError, FileNotFoundError):
    """An expected weight file or folder does not exist."""


class RewardFileInvalidError(RewardLoadError, ValueError):
    """A file exists but is malformed, unsafe to unpickle, or of the wrong architecture."""
