"""Adversarial robustness: input gradients on every backend, FGSM and PGD attacks."""
