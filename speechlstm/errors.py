"""The errors speechlstm raises on purpose: one base class, and one kind per exit code.

Every exception class the package defines derives from :class:`SpeechlstmError` through one
of the kinds below, so that the command line maps an error to its exit code in one place
(:func:`speechlstm.cli.main`) and a library user can catch them all at once. Module-specific
classes (``AudioError``, ``BundleError`` ...) keep the builtin base they had (``ValueError``,
``RuntimeError``) as a second base, so that code catching those still works.

========================  ====  =====================================================
kind                      exit  what went wrong
========================  ====  =====================================================
:class:`InputError`       1     an input (audio, a file list, text) cannot be read
:class:`UsageError`       2     options that do not fit, a malformed manifest, an optional package missing
:class:`ModelError`       3     the model, its LM, lexicon or exported graph is missing or invalid
:class:`OutputError`      4     an output cannot be written
:class:`DeviceError`      5     the audio input device is missing, busy or failed
========================  ====  =====================================================

130 (interrupted) is not an error class: it is Ctrl-C.
"""
from __future__ import annotations


class SpeechlstmError(Exception):
    """Base of every error speechlstm raises; ``exit_code`` is the command line's exit status."""

    exit_code = 1


class InputError(SpeechlstmError):
    """An input cannot be read or is not what it should be (the other inputs may still be done)."""

    exit_code = 1


class UsageError(SpeechlstmError):
    """Options or settings that do not go together, or a value out of bounds."""

    exit_code = 2


class MissingPackageError(UsageError):
    """An optional package the asked-for feature needs is not installed (torch, onnxruntime, aiohttp ...):
    a usage error, fixed by installing the extra it names or choosing another option."""


class ModelError(SpeechlstmError):
    """A model file is missing or invalid: the bundle, its LM, lexicon, exported graphs, the punctuation model."""

    exit_code = 3


class ModelFileError(ModelError, ValueError):
    """A file a model decodes with (language model, pronunciation lexicon, exported graph) is
    missing or unreadable."""


class WorkerError(ModelError, RuntimeError):
    """A worker process (a batch's, a server's) could not start: it died or failed loading the model."""


class OutputError(SpeechlstmError):
    """An output file (or standard output) cannot be written."""

    exit_code = 4


class DeviceError(SpeechlstmError, RuntimeError):
    """The audio device is missing, busy or failed; the message lists the input devices."""

    exit_code = 5

