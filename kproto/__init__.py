"""kproto: turn a short YAML recipe into a trained, evaluated, exportable Keras 3 model."""

__version__ = "0.1.0"
