"""Training a model from a TrainConfig: the engine, its config, callbacks, reporters, the LR finder and hyper-parameter search."""
