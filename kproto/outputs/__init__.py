"""Model outputs turned into answers: class decisions, decoding, recommendations and the application reports."""
