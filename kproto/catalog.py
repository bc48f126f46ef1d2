"""Every name a recipe may use, with a one-line description, importable without TensorFlow.

`kproto validate` checks names against these tables so it never imports Keras; at build time the
same names resolve through `keras.losses.get`, `keras.optimizers.get` and friends. A test checks
that every entry here is accepted by Keras.
"""

from __future__ import annotations

FAMILIES: dict[str, str] = {
    "feedforward": "Dense layers for tabular data (units, activation, dropout, normalization).",
    "cnn": "Conv2D blocks with pooling and batch norm, then a dense head (images from pixel columns or folders).",
    "rnn": "Stacked SimpleRNN layers for sequences (text tokens or time-series windows).",
    "gru": "Stacked GRU layers, optionally bidirectional.",
    "lstm": "Stacked LSTM layers, optionally bidirectional.",
    "transformer": "Transformer encoder blocks with token/position embedding and a pooled head.",
    "autoencoder": "Dense or convolutional encoder-decoder; reconstruction error as anomaly score.",
    "gan": "Generator and discriminator trained adversarially; writes sample grids.",
    "sequential": "An explicit list of Keras layers by class name, for anything the families don't cover.",
}

LOSSES: dict[str, str] = {
    "auto": "Chosen from the task: sparse categorical cross-entropy or mean squared error.",
    "mse": "Mean squared error (regression).",
    "mean_squared_error": "Same as mse.",
    "mae": "Mean absolute error (regression, robust to outliers).",
    "mean_absolute_error": "Same as mae.",
    "mape": "Mean absolute percentage error.",
    "msle": "Mean squared logarithmic error.",
    "huber": "Huber loss: squared near zero, absolute far away.",
    "log_cosh": "Logarithm of the hyperbolic cosine of the error.",
    "binary_crossentropy": "Binary cross-entropy (labels one-hot encoded automatically).",
    "binary_focal_crossentropy": "Focal binary cross-entropy for imbalanced classes.",
    "categorical_crossentropy": "Cross-entropy on one-hot labels (encoded automatically).",
    "categorical_focal_crossentropy": "Focal cross-entropy on one-hot labels.",
    "sparse_categorical_crossentropy": "Cross-entropy on integer class labels.",
    "hinge": "Hinge loss (0/1 labels mapped to -1/+1 by Keras).",
    "squared_hinge": "Squared hinge loss.",
    "categorical_hinge": "Multi-class hinge loss on one-hot labels.",
    "kl_divergence": "Kullback-Leibler divergence between label and predicted distributions.",
    "cosine_similarity": "Negative cosine similarity between labels and predictions.",
    "poisson": "Poisson loss for count targets.",
}

# Losses that need one-hot labels when the model has a softmax output.
ONE_HOT_LOSSES = frozenset(
    {
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "hinge",
        "squared_hinge",
        "categorical_hinge",
        "kl_divergence",
        "cosine_similarity",
        "poisson",
        "mse",
        "mean_squared_error",
        "mae",
        "mean_absolute_error",
        "huber",
        "log_cosh",
    }
)

OPTIMIZERS: dict[str, str] = {
    "sgd": "Stochastic gradient descent, with momentum and nesterov options.",
    "adam": "Adam: adaptive moments (the default).",
    "adamw": "Adam with decoupled weight decay.",
    "rmsprop": "RMSprop: scaled by a moving average of squared gradients.",
    "adagrad": "Adagrad: per-parameter rates from accumulated squared gradients.",
    "adadelta": "Adadelta: Adagrad without a decaying learning rate.",
    "adamax": "Adamax: Adam with the infinity norm.",
    "nadam": "Adam with Nesterov momentum.",
    "lion": "Lion: sign-based updates, use a smaller learning rate.",
    "ftrl": "Follow-the-regularized-leader.",
    "adafactor": "Adafactor: memory-light adaptive rates.",
}

SCHEDULES: dict[str, str] = {
    "constant": "A fixed learning rate.",
    "step": "Piecewise constant: boundaries (epochs) and values.",
    "exponential": "Multiply by decay_rate every decay_epochs.",
    "cosine": "Cosine decay to alpha * initial rate over the run.",
    "cosine_restarts": "Cosine decay with warm restarts every first_decay_epochs.",
    "polynomial": "Polynomial decay to end_learning_rate over the run.",
    "one_cycle": "Rise to max_learning_rate, then anneal (Smith's 1cycle).",
    "plateau": "Reduce by factor when the monitored metric stops improving for patience epochs.",
}

ACTIVATIONS: dict[str, str] = {
    "relu": "max(x, 0).",
    "leaky_relu": "relu with a small negative slope.",
    "elu": "Exponential linear unit.",
    "selu": "Scaled elu (self-normalizing networks).",
    "sigmoid": "1 / (1 + exp(-x)).",
    "tanh": "Hyperbolic tangent.",
    "softmax": "Normalized exponentials (a distribution).",
    "swish": "x * sigmoid(x).",
    "silu": "Same as swish.",
    "gelu": "Gaussian error linear unit (Transformers).",
    "mish": "x * tanh(softplus(x)).",
    "softplus": "log(1 + exp(x)).",
    "softsign": "x / (1 + |x|).",
    "relu6": "min(max(x, 0), 6).",
    "hard_sigmoid": "Piecewise linear sigmoid.",
    "hard_silu": "Piecewise linear silu.",
    "hard_swish": "Same as hard_silu.",
    "exponential": "exp(x).",
    "linear": "Identity.",
    "celu": "Continuously differentiable elu.",
    "glu": "Gated linear unit.",
    "log_sigmoid": "log(sigmoid(x)).",
    "log_softmax": "log(softmax(x)).",
    "sparsemax": "Sparse alternative to softmax.",
    "squareplus": "Smooth approximation of relu.",
    "tanh_shrink": "x - tanh(x).",
}

METRICS: dict[str, str] = {
    "accuracy": "Share of correct predictions.",
    "precision": "Of predicted positives, the share that are positive (micro over classes).",
    "recall": "Of actual positives, the share found (micro over classes).",
    "auc": "Area under the ROC curve.",
    "f1": "Macro-averaged F1 score over classes.",
    "top_k_accuracy": "Share whose true class is among the top 5 predictions.",
    "mae": "Mean absolute error.",
    "mse": "Mean squared error.",
    "rmse": "Root mean squared error.",
    "r2": "Coefficient of determination R².",
    "mape": "Mean absolute percentage error.",
}

# Metric names that only make sense for one task.
CLASSIFICATION_METRICS = frozenset({"accuracy", "precision", "recall", "auc", "f1", "top_k_accuracy"})
REGRESSION_METRICS = frozenset({"mae", "mse", "rmse", "r2", "mape"})
# Metrics computed on one-hot labels.
ONE_HOT_METRICS = frozenset({"precision", "recall", "auc", "f1", "top_k_accuracy"})

AUGMENTATIONS: dict[str, str] = {
    "flip": "Random flips of images: horizontal, vertical or horizontal_and_vertical.",
    "rotation": "Random rotation by up to this fraction of a full turn.",
    "zoom": "Random zoom in or out by up to this fraction.",
    "translation": "Random shift by up to this fraction of height and width.",
    "contrast": "Random contrast change by up to this factor.",
    "noise": "Additive Gaussian noise with this standard deviation (images and sequences).",
    "mask": "Randomly zero this fraction of sequence steps (sequences).",
}

ENGINES: dict[str, str] = {
    "auto": "Pick the fastest engine for the family, data size and device.",
    "fit": "Keras model.fit, one call per epoch.",
    "fused": "A whole epoch as one compiled JAX loop (in-memory data, JAX backend).",
}

BACKENDS = ("auto", "tensorflow", "jax", "torch")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTE = ("none", "mirrored", "multi_worker", "data_parallel")
