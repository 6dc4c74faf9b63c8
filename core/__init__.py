"""Core library of the image-classification lab.

Never imports streamlit (tests/test_architecture.py enforces it) and has no import-time
side effects: no downloads, no database connections, no TensorFlow import at package
import time (submodules that need TensorFlow import it themselves).
"""

__version__ = "0.1.0"
