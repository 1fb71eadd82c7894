"""speechlstm: small streaming speech-to-text with a latency-controlled BiLSTM and CTC."""
from .bundle import Bundle, BundleError, load_bundle
from .config import DecodingConfig, EndpointConfig, FrontendConfig, ModelConfig, StreamingConfig
from .errors import SpeechlstmError
from .io.audio import AudioError
from .recognizer import Recognizer, RecognizerConfig
from .results import LiveEvent, Result, Transcript, Word
from .stream import Stream, StreamError

__version__ = "0.1.0"
"""The one place the version is written (pyproject.toml reads it from here)."""
__all__ = ["AudioError", "Bundle", "BundleError", "DecodingConfig", "EndpointConfig", "FrontendConfig", "LiveEvent",
           "ModelConfig", "Recognizer", "RecognizerConfig", "Result", "SpeechlstmError", "Stream", "StreamError",
           "StreamingConfig", "Transcript", "Word", "load_bundle", "__version__"]
