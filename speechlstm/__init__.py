"""speechlstm: small streaming speech-to-text with a latency-controlled BiLSTM and CTC."""
from .audio import AudioError
from .bundle import Bundle, BundleError, load_bundle
from .decoding import Result, Word
from .recognizer import Recognizer, RecognizerConfig, Transcript
from .streaming import Stream, StreamError

__version__ = "0.1.0"
__all__ = ["AudioError", "Bundle", "BundleError", "Recognizer", "RecognizerConfig", "Result", "Stream",
           "StreamError", "Transcript", "Word", "load_bundle", "__version__"]
